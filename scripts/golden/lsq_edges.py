#!/usr/bin/env python3
"""LSQ edge cases from PyTorch 1.13, beyond scripts/golden/quant.py's lsq.json (written after
mutation testing left them unpinned, docs/mutation-survivors.md):

- per_tensor / per_channel: torch._fake_quantize_learnable_per_{tensor,channel}_affine on codes
  x/S + Z at and beyond 2^51, 2^52, 2^62 and 2^63 (this build's float -> int64 conversion gives
  INT64_MIN from 2^63 on, so those count as below qmin), ±1e30, ±inf, NaN and half-integer ties,
  with a half-integer zero point (forward rint(Z), per-tensor backward trunc(Z + 0.5)) and with
  quant_min = -2^63 (the code -2^63 is then in range); each once
  with scale / zero point requiring grad and once without (ATen always runs the full backward,
  so dx keeps the backward's own mask either way).
- modules: _LearnableFakeQuantize runs: per-tensor symmetric with a non-zero initial zero point
  and learning from the first batch (the zero point is zeroed before use); static observation,
  then static estimate, then learning (no grad scaling); a tiny initial scale learned from the
  first batch (clamped to eps).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/lsq_edges.py
Writes test/golden/quant/lsq_edges.json (read by test/quant/lsq-mutants.test.ts; same encoding
as quant.py's files, whose helpers it uses).
"""
import os
import sys

import numpy as np
import torch
from torch.ao.quantization import MovingAverageMinMaxObserver
from torch.ao.quantization._learnable_fake_quantize import _LearnableFakeQuantize

sys.path.insert(0, os.path.dirname(__file__))
from quant import T, act_batches, module_entry, run_module, write  # noqa: E402

torch.manual_seed(1717)

EXTREME = [-1.5, 6.5, 2.0 ** 51, 2.0 ** 52, 2.0 ** 62, 2.0 ** 63, 1e30, 3e38, -(2.0 ** 51), -(2.0 ** 52), -(2.0 ** 63), -1e30,
           float("nan"), float("inf"), -float("inf"), 0.3, -0.7, 5.0, 2.5, -2.5, 0.5, 1.5, 0.0]


def case(fn, x, scale, zp, learn, **meta):
    x = x.clone().requires_grad_(True)
    s = scale.clone().requires_grad_(learn)
    z = zp.clone().requires_grad_(learn)
    y = fn(x, s, z)
    dy = torch.randn_like(y)
    y.backward(dy)
    out = {**meta, "learn": learn, "x": T(x), "scale": T(s), "zero_point": T(z), "y": T(y), "dy": T(dy), "dx": T(x.grad)}
    if learn:
        out["dscale"] = T(s.grad)
        out["dzero_point"] = T(z.grad)
    return out


def gen():
    per_tensor = []
    for scale, zp, qmin, qmax, gf in ((1.0, 3.0, -8, 7, 1.0), (0.5, 2.5, 0, 15, 0.25), (1.0, -2.5, -4, 3, 1.0), (1.0, 0.0, -(2 ** 63), 2 ** 62, 1.0)):
        x = torch.tensor(np.array(EXTREME, dtype=np.float32))
        for learn in (True, False):
            per_tensor.append(case(lambda t, s, z, a=qmin, b=qmax, g=gf: torch._fake_quantize_learnable_per_tensor_affine(t, s, z, a, b, g),
                                   x, torch.tensor([scale]), torch.tensor([zp]), learn, qmin=qmin, qmax=qmax, grad_factor=gf))
    per_channel = []
    vals = np.array(EXTREME + [7.5], dtype=np.float32)  # 24 values: [2, 3, 4] along axis 1
    x = torch.tensor(vals.reshape(2, 3, 4))
    for learn in (True, False):
        per_channel.append(case(lambda t, s, z: torch._fake_quantize_learnable_per_channel_affine(t, s, z, 1, -8, 7, 0.5),
                                x, torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.0, 3.5, -2.0]), learn,
                                axis=1, qmin=-8, qmax=7, grad_factor=0.5))

    modules = []
    batches = act_batches(3)
    sym = _LearnableFakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                                 qscheme=torch.per_tensor_symmetric, scale=0.05, zero_point=3.0)
    keys0 = module_entry(sym)
    steps = run_module(sym, batches, {0: lambda m: m.enable_param_learning()})
    modules.append({"kwargs": {"quantMin": -128, "quantMax": 127, "dtype": "int8", "qscheme": "per_tensor_symmetric", "scale": 0.05, "zeroPoint": 3.0},
                    "actions": {"0": "enableParamLearning"}, "batches": [T(b) for b in batches], "steps": steps,
                    "state_dict_initial": keys0, "state_dict": module_entry(sym)})
    batches = act_batches(4)
    staged = _LearnableFakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255)
    keys0 = module_entry(staged)
    steps = run_module(staged, batches, {0: lambda m: m.enable_static_observation(), 1: lambda m: m.enable_static_estimate(),
                                         2: lambda m: m.enable_param_learning()})
    modules.append({"kwargs": {"quantMin": 0, "quantMax": 255},
                    "actions": {"0": "enableStaticObservation", "1": "enableStaticEstimate", "2": "enableParamLearning"},
                    "batches": [T(b) for b in batches], "steps": steps, "state_dict_initial": keys0, "state_dict": module_entry(staged)})
    batches = act_batches(2)
    tiny = _LearnableFakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, scale=1e-12, zero_point=7.0)
    keys0 = module_entry(tiny)
    steps = run_module(tiny, batches, {0: lambda m: m.enable_param_learning()})
    modules.append({"kwargs": {"quantMin": 0, "quantMax": 255, "scale": 1e-12, "zeroPoint": 7.0}, "actions": {"0": "enableParamLearning"},
                    "batches": [T(b) for b in batches], "steps": steps, "state_dict_initial": keys0, "state_dict": module_entry(tiny)})
    write("lsq_edges.json", {"per_tensor": per_tensor, "per_channel": per_channel, "modules": modules})


if __name__ == "__main__":
    gen()
