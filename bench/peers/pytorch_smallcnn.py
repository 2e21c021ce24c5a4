"""PyTorch peer of bench/smallcnn.ts (issues 3 and 6): the same SmallCNN (DESIGN.md §6) steps on
the same Fashion-MNIST data, threads = the core count (or argv[1]). Measures FP32 training
img/s and QAT training img/s (batch 64, SGD momentum, onednn QAT qconfig after
fuse_modules_qat), FP32 inference latency at batch 256, and int8 inference latency at batch 256
of the converted model (quantized engine onednn). Per-step times are medians over ≥ 1.5 s; the
four measurements are interleaved for three rounds and each keeps its best round, like ours.
Data: Debian dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or argv[2].
Prints one JSON object."""
import copy
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from torch.ao.quantization import convert, fuse_modules_qat, get_default_qat_qconfig, prepare_qat

from smallcnn_torch import FUSE_GROUPS, SmallCNN

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else os.cpu_count()
DATA = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
torch.set_num_threads(THREADS)
torch.manual_seed(0)
torch.backends.quantized.engine = "onednn"


def idx_images(path, count):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    x = np.frombuffer(raw, dtype=np.uint8, offset=16)[: count * h * w].reshape(count, 1, h, w)
    return torch.from_numpy(((x.astype(np.float32) / 255.0) - MEAN) / STD)


def idx_labels(path, count):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=8)[:count].astype(np.int64))


N_TRAIN = 64 * 40
X = idx_images(os.path.join(DATA, "train-images-idx3-ubyte.gz"), N_TRAIN)
Y = idx_labels(os.path.join(DATA, "train-labels-idx1-ubyte.gz"), N_TRAIN)
X256 = idx_images(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"), 256)


def median_time(fn, min_time=1.5, min_reps=5):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def stepper(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
    model.train()
    state = {"i": 0}

    def step():
        b = state["i"] % (N_TRAIN // 64)
        state["i"] += 1
        opt.zero_grad()
        nn.functional.cross_entropy(model(X[b * 64:(b + 1) * 64]), Y[b * 64:(b + 1) * 64]).backward()
        opt.step()
    return step


float_model = SmallCNN()
qat = fuse_modules_qat(SmallCNN().train(), FUSE_GROUPS)
qat.qconfig = get_default_qat_qconfig("onednn")
qat = prepare_qat(qat)
f_stepper, q_stepper = stepper(float_model), stepper(qat)
for _ in range(3):  # a few QAT steps before conversion, as on our side
    q_stepper()
int8 = convert(copy.deepcopy(qat).eval())
f_step = q_step = f_inf = i_inf = float("inf")
for _ in range(3):
    float_model.train()
    f_step = min(f_step, median_time(f_stepper))
    q_step = min(q_step, median_time(q_stepper))
    float_model.eval()
    with torch.no_grad():
        f_inf = min(f_inf, median_time(lambda: float_model(X256), 1.0))
        i_inf = min(i_inf, median_time(lambda: int8(X256), 1.0))
print(json.dumps({
    "torch": torch.__version__, "threads": torch.get_num_threads(),
    "float_train_img_s": 64 / f_step, "qat_train_img_s": 64 / q_step, "qat_over_float": q_step / f_step,
    "float_infer256_ms": f_inf * 1e3, "int8_infer256_ms": i_inf * 1e3,
}))
