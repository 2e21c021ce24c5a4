"""Fake-quantization edge cases from PyTorch 1.13 (written after mutation testing left them
unpinned, docs/mutation-survivors.md):
- float64 codes x/S in [2^51, 2^52), where a double can still be a half-integer: ATen rounds
  them half to even (nearbyint) before adding Z;
- the int64 edge: with quant_min = -2^63 a code of exactly -2^63 is in range (float32 and
  float64 data), and so are 2^63, NaN and ±inf in float32 data (converted to INT64_MIN);
- FakeQuantize with the observer off and a loaded zero point outside [quant_min, quant_max]:
  the module's tensor-qparams kernel does not check it, and clamps the code as usual.
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/fake_quant_edges.py
Writes test/golden/quant/fake_quant_edges.json (read by test/quant/fake-quantize-mutants2.test.ts;
plain doubles, non-finite ones as strings; records the torch version)."""

import torch
from torch.ao.quantization import FakeQuantize

from golden_io import write_quant_json

W = 2 ** 62
half_codes = [2.0 ** 51 + 0.5, 2.0 ** 51 + 1.5, -(2.0 ** 51 + 0.5), -(2.0 ** 51 + 1.5), 2.0 ** 52 - 0.5, -(2.0 ** 52 - 0.5), 2.0 ** 51 + 3.5, 0.5, 1.5]
float64_half = []
for scale, zp in ((1.0, 0), (0.5, 3), (1.0, -5)):
    x = torch.tensor(half_codes, dtype=torch.float64, requires_grad=True)
    y = torch.fake_quantize_per_tensor_affine(x, scale, zp, -W, W)
    y.sum().backward()
    float64_half.append({"scale": scale, "zero_point": zp, "qmin": -W, "qmax": W, "x": half_codes, "y": y.tolist(), "mask": x.grad.tolist()})

def enc(v):
    """A double for JSON; non-finite values as the strings "nan", "inf", "-inf"."""
    return "nan" if v != v else "inf" if v == float("inf") else "-inf" if v == -float("inf") else v


int64_min = []
edge = [-(2.0 ** 63), -(2.0 ** 62), 2.0 ** 62, -1.5]
# float32 only: 2^63, NaN and ±inf convert to INT64_MIN, in range here (the double path's
# conversion of |x| >= 2^63 is undefined behaviour, saturating in this build).
for dtype, xs in (("float32", edge + [2.0 ** 63, float("nan"), float("inf"), -float("inf")]), ("float64", edge)):
    x = torch.tensor(xs, dtype=getattr(torch, dtype), requires_grad=True)
    y = torch.fake_quantize_per_tensor_affine(x, 1.0, 0, -(2 ** 63), W)
    y.sum().backward()
    int64_min.append({"dtype": dtype, "scale": 1.0, "zero_point": 0, "qmin": -(2 ** 63), "qmax": W, "x": [enc(v) for v in xs],
                      "y": [enc(v) for v in y.tolist()], "mask": x.grad.tolist()})

fq = FakeQuantize()
fq.disable_observer()
sd = fq.state_dict()
sd["scale"] = torch.tensor([0.5])
sd["zero_point"] = torch.tensor([300], dtype=torch.int32)
fq.load_state_dict(sd)
xm = [0.3, -1.0, 200.0, -150.0, -22.5, 1.0]
x = torch.tensor(xm, requires_grad=True)
y = fq(x)
dy = torch.tensor([1.0, -2.0, 3.0, 0.5, -0.25, 4.0])
y.backward(dy)
module = {"scale": 0.5, "zero_point": 300, "x": xm, "dy": dy.tolist(), "y": y.tolist(), "dx": x.grad.tolist()}

out = {"torch": torch.__version__, "float64_half_codes": float64_half, "int64_min": int64_min, "module_zero_point_outside": module}
write_quant_json("fake_quant_edges.json", out)
