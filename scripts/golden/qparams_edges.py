"""Edge cases of the qparams math that mutation testing (npm run mutation, docs/TESTING.md)
showed the main goldens (scripts/golden/quant.py) leave open, from PyTorch 1.13:
  - int32 affine ranges (MinMaxObserver(dtype=torch.qint32)) where qmin - round(min/S) leaves
    int32 (PyTorch's float -> int32 conversion gives INT32_MIN, then wraps);
  - ChooseQuantizationParams (torch.fused_moving_avg_obs_fake_quant) on tiny ranges touching 0
    from either side, for signed and unsigned, symmetric and affine ranges;
  - ChooseQuantizationParams on an all-zero range and on subnormal ranges (S = 0 or 1/S = inf: S = 0.1);
  - fake_quantize_per_tensor_affine at |x/S| = 2^62, 2^63 (the int64 conversion limit).
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/qparams_edges.py
Writes test/golden/quant/qparams_edges.json (records the torch version)."""

import torch
from torch.ao.quantization import MinMaxObserver

from golden_io import write_quant_json


def f32(v):
    return float(torch.tensor(v, dtype=torch.float32).item())


int32_affine = []
for lo, hi in [(-1000.0, 0.0), (-1000.0, 1000.0), (-600.0, 0.0), (-300.0, 0.0), (-1000.0, 3000.0), (-5000.0, 1.0)]:
    o = MinMaxObserver(dtype=torch.qint32)
    o(torch.tensor([lo, hi]))
    s, z = o.calculate_qparams()
    int32_affine.append([lo, hi, f32(s.item()), int(z.item())])

fused = []
pairs = [(-1e-7, 0.0), (0.0, 1e-7), (-3e-7, 1e-7), (-1e-7, 3e-7), (-1e-9, 0.0), (0.0, 2e-9), (-2.0, 0.0), (0.0, 3.0),
         (0.0, 0.0), (0.0, 1e-39), (-1e-39, 0.0), (-1e-39, 2e-39)]  # the last four: S = 0 or 1/S = inf gives S = 0.1
for qmin, qmax, sym in ((-128, 127, False), (-8, 7, False), (-127, 127, True), (-128, 127, True), (0, 255, False), (0, 15, True), (-3, 12, False)):
    results = []
    for lo, hi in pairs:
        x = torch.zeros(4)
        scale, zp = torch.tensor([1.0]), torch.tensor([0], dtype=torch.int)
        torch.fused_moving_avg_obs_fake_quant(x, torch.tensor([0]), torch.tensor([1]), torch.tensor(f32(lo)), torch.tensor(f32(hi)),
                                              scale, zp, 0.01, qmin, qmax, 0, False, sym)
        results.append([f32(lo), f32(hi), f32(scale.item()), int(zp.item())])
    fused.append({"qmin": qmin, "qmax": qmax, "symmetric": sym, "results": results})

xs = [2.0 ** 62, 2.0 ** 63, -(2.0 ** 63), -(2.0 ** 62), 2.0 ** 64]
fq = []
for scale, zp, qmin, qmax in ((1.0, 0, 0, 255), (1.0, 3, -128, 127), (0.5, 0, -8, 7)):
    y = torch.fake_quantize_per_tensor_affine(torch.tensor(xs, dtype=torch.float32), scale, zp, qmin, qmax)
    fq.append({"scale": scale, "zero_point": zp, "qmin": qmin, "qmax": qmax, "x": xs, "y": y.tolist()})

out = {"torch": torch.__version__, "int32_affine": int32_affine, "fused": fused, "fake_quant_int64_limit": fq}
write_quant_json("qparams_edges.json", out)
