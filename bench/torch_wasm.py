"""PyTorch side of the `wasm` bench suite (bench/wasm.ts): matmul 1024³, the SmallCNN convs
at batch 64 (forward, forward + backward) and one SmallCNN SGD training step at batch 64,
each with torch threads = 1 and = 2, in one run; best-of-runs times. Prints one JSON object on stdout. Run by
bench/run.ts with Debian's /usr/bin/python3 (python3-torch, PyTorch 1.13)."""
import json
import sys
import os
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from smallcnn_torch import SmallCNN  # noqa: E402

torch.manual_seed(0)


def timeit(fn, min_time=0.5, min_reps=5):
    """Best time over the runs (as bench/wasm.ts: load on the shared machine only adds time)."""
    fn()  # warm-up
    best = float("inf")
    start = time.perf_counter()
    reps = 0
    while reps < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return best


def figures(threads):
    torch.set_num_threads(threads)
    out = {}
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    out[f"matmul1024_t{threads}"] = 2 * 1024 ** 3 / timeit(lambda: torch.mm(a, b)) / 1e9
    for name, (c, oc, hw) in {"conv1": (1, 16, 28), "conv2": (16, 32, 14)}.items():
        x = torch.randn(64, c, hw, hw, requires_grad=True)
        w = torch.randn(oc, c, 3, 3, requires_grad=True)
        out[f"{name}_fwd_ms_t{threads}"] = timeit(lambda: F.conv2d(x, w, padding=1)) * 1e3

        def fb():
            y = F.conv2d(x, w, padding=1)
            y.backward(torch.ones_like(y))

        out[f"{name}_fwdbwd_ms_t{threads}"] = timeit(fb) * 1e3
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xb = torch.randn(64, 1, 28, 28)
    yb = torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    out[f"smallcnn_img_s_t{threads}"] = 64 / timeit(step, min_time=1.0)
    return out


result = {"torch": torch.__version__, "threads": "1 and 2"}
for t in (1, 2):
    result.update(figures(t))
print(json.dumps(result))
