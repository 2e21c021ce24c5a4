"""fake_quantize_per_tensor_affine / _per_channel_affine on float64 tensors, from PyTorch 1.13:
ATen's kernel multiplies the double input by the float32 fl(1/S), adds Z to nearbyint in double
and forms the output (clamp(q) − Z)·S in double — no float32 rounding of the output (written
after mutation testing, docs/TESTING.md, showed the float64 path pinned only by its dtype).
Inputs: ordinary values (whose double output differs from the float32-rounded one), ties, codes
beyond 2^24 and 2^51 with an int32 and a wide range. |x/S| >= 2^63 is left out: the float ->
int64 conversion there is undefined behaviour in C++ and this build's double path saturates
where its float path gives INT64_MIN.
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/fake_quant_float64.py
Writes test/golden/quant/fake_quant_float64.json (records the torch version)."""

import torch

from golden_io import write_quant_json

xs = [0.3, 0.7, 25.3, -1.15, 0.05, 0.25, 12.75, -0.35, 2.0 ** 24 + 1, -(2.0 ** 24 + 1), 2.0 ** 51 + 1, 2.0 ** 52 + 3, -(2.0 ** 52 + 1)]
per_tensor = []
for scale, zp, qmin, qmax in ((0.1, 0, 0, 255), (0.1, 3, -128, 127), (0.5, -2, -8, 7), (1.0, 0, -2 ** 31, 2 ** 31 - 1), (0.25, 5, -2 ** 62, 2 ** 62)):
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = torch.fake_quantize_per_tensor_affine(x, scale, zp, qmin, qmax)
    y.sum().backward()
    per_tensor.append({"scale": scale, "zero_point": zp, "qmin": qmin, "qmax": qmax, "y": y.tolist(), "mask": x.grad.tolist()})

xc = torch.tensor([[0.3, -0.7, 25.3, 1.15], [0.05, 0.25, -12.75, 0.35], [3.3, -2.2, 1.1, 100.0]], dtype=torch.float64, requires_grad=True)
scales = torch.tensor([0.1, 0.3, 0.07])
zps = torch.tensor([0, -3, 4], dtype=torch.int32)
yc = torch.fake_quantize_per_channel_affine(xc, scales, zps, 0, -16, 15)
yc.sum().backward()
per_channel = {"x": xc.tolist(), "scales": scales.tolist(), "zero_points": zps.tolist(), "axis": 0, "qmin": -16, "qmax": 15, "y": yc.tolist(), "mask": xc.grad.tolist()}

out = {"torch": torch.__version__, "x": xs, "per_tensor": per_tensor, "per_channel": per_channel}
write_quant_json("fake_quant_float64.json", out)
