"""PyTorch side of `npm run bench`: the same workloads as bench/core.ts, timed in the same
run so results are quoted as ratios. Prints one JSON object on stdout. Run by bench/run.ts
with Debian's /usr/bin/python3 (python3-torch, PyTorch 1.13); threads set by argv[1]."""
import json
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads)
torch.manual_seed(0)


def timeit(fn, min_time=0.5, min_reps=3):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


out = {"torch": torch.__version__, "threads": threads}
for n in (256, 1024):
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    s = timeit(lambda: torch.mm(a, b))
    out[f"matmul{n}"] = 2 * n ** 3 / s / 1e9

for name, (c, oc, hw) in {"conv1": (1, 16, 28), "conv2": (16, 32, 14)}.items():
    x = torch.randn(64, c, hw, hw, requires_grad=True)
    w = torch.randn(oc, c, 3, 3, requires_grad=True)
    out[f"{name}_fwd_ms"] = timeit(lambda: torch.nn.functional.conv2d(x, w, padding=1)) * 1e3

    def fb():
        y = torch.nn.functional.conv2d(x, w, padding=1)
        y.backward(torch.ones_like(y))

    out[f"{name}_fwdbwd_ms"] = timeit(fb) * 1e3

small = torch.randn(4)
smallg = torch.randn(4, requires_grad=True)
reps = 20000


def per_op(fn):
    def loop():
        for _ in range(reps):
            fn()
    return timeit(loop, min_time=0.3) / reps * 1e6


out["op_add_us"] = per_op(lambda: small + small)
out["op_relu_us"] = per_op(lambda: torch.relu(small))
out["op_add_grad_us"] = per_op(lambda: smallg + smallg)
print(json.dumps(out))
