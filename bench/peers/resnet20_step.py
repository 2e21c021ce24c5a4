"""One side of bench/experiments/resnet20-step.ts --peer: PyTorch 1.13's ResNet-20 training step
(bench/peers/resnet20_torch.py; QAT = fuse_modules_qat + the onednn QAT qconfig + prepare_qat, as
torch_peer.py builds it) on random 3×32×32 batches of 32, SGD momentum 0.9, one thread. Warms up
5 steps, times blocks of 5, prints the median block's wall and process CPU ms per step as JSON.
Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/resnet20_step.py [--qat] [--steps 30] [--threads 1]"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.ao.quantization import fuse_modules_qat, get_default_qat_qconfig, prepare_qat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet20_torch import ResNet20, fuse_groups  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--qat", action="store_true")
p.add_argument("--steps", type=int, default=30)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.backends.quantized.engine = "onednn"
torch.manual_seed(1)
model = ResNet20()
if a.qat:
    model = fuse_modules_qat(model.train(), fuse_groups(model))
    model.qconfig = get_default_qat_qconfig("onednn")
    model = prepare_qat(model)
batches = [(torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))) for _ in range(8)]
opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
state = {"i": 0}


def step():
    model.train()
    x, y = batches[state["i"] % len(batches)]
    state["i"] += 1
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


for _ in range(5):
    step()
wall, cpu = [], []
for _ in range((a.steps + 4) // 5):
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(5):
        step()
    wall.append((time.perf_counter() - t0) * 1000 / 5)
    cpu.append((time.process_time() - c0) * 1000 / 5)
print(json.dumps({"wall": statistics.median(wall), "cpu": statistics.median(cpu)}))
