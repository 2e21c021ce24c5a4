"""PyTorch side of the training bench (bench/training.ts): SmallCNN (DESIGN.md §6) float and
QAT (x86 qconfig, prepare_qat after fuse_modules_qat) training steps at batch 64, and float
inference at batch 256; threads from argv[1]. Prints one JSON object."""
import json
import os
import sys
import time

import torch
import torch.nn as nn
from torch.ao.quantization import fuse_modules_qat, get_default_qat_qconfig, prepare_qat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from smallcnn_torch import FUSE_GROUPS, SmallCNN  # noqa: E402

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(0)


def timeit(fn, min_time=2.0):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def stepper(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    model.train()

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


float_model = SmallCNN()
qat = SmallCNN().train()
qat = fuse_modules_qat(qat, FUSE_GROUPS)
qat.qconfig = get_default_qat_qconfig("x86")
qat = prepare_qat(qat)
f = timeit(stepper(float_model))
q = timeit(stepper(qat))
float_model.eval()
x = torch.randn(256, 1, 28, 28)
with torch.no_grad():
    inf = timeit(lambda: float_model(x), 1.0)
res = {"torch": torch.__version__, "threads": torch.get_num_threads()}
for suffix in ("wasm1", "wasm2", "ref"):  # the same PyTorch figures beside each of our settings
    res.update({f"float_img_s_{suffix}": 64 / f, f"qat_img_s_{suffix}": 64 / q, f"qat_over_float_{suffix}": q / f, f"infer256_ms_{suffix}": inf * 1e3})
print(json.dumps(res))
