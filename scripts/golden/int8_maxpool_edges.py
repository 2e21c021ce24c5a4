"""Quantized max pooling from PyTorch 1.13 (quantized::max_pool2d on quint8 / qint8 tensors)
for the window rules the int8 kernel's fast path must leave to the general one: padding on one
axis only, dilation on one axis only, ceil_mode changing both output sizes, and a plain
overlapping window (the fast path itself). Mutation testing (npm run mutation, docs/TESTING.md)
showed the symmetric cases of test/int8/pool-rules.test.ts leave these open.
Records per case the int8/uint8 input codes, the geometry and the output codes and shape.
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/int8_maxpool_edges.py
Writes test/golden/quant/int8_maxpool_edges.json (records the torch version)."""

import torch
import torch.nn.functional as F

from golden_io import write_quant_json

torch.manual_seed(11)

# name, NCHW shape, kernel, stride, padding, dilation, ceil_mode
cases = [
    ("pad_h_only", [1, 2, 7, 6], [3, 3], [2, 2], [1, 0], [1, 1], False),
    ("pad_w_only", [1, 2, 6, 7], [3, 3], [2, 2], [0, 1], [1, 1], False),
    ("dilation_h_only", [2, 1, 7, 6], [3, 2], [1, 2], [0, 0], [2, 1], False),
    ("dilation_w_only", [2, 1, 6, 7], [2, 3], [2, 1], [0, 0], [1, 2], False),
    ("ceil_both_axes", [1, 2, 8, 8], [3, 3], [2, 2], [0, 0], [1, 1], True),
    ("ceil_padded_dilated", [1, 1, 7, 9], [2, 3], [3, 2], [1, 1], [2, 1], True),
    ("plain_overlapping", [2, 2, 5, 6], [2, 2], [1, 1], [0, 0], [1, 1], False),
]

out = {"torch": torch.__version__, "cases": []}
for dtype in ("uint8", "int8"):
    for name, shape, k, s, p, d, ceil in cases:
        if dtype == "uint8":
            codes = torch.randint(0, 256, shape, dtype=torch.uint8)
            q = torch._make_per_tensor_quantized_tensor(codes, 0.1, 3)
        else:
            codes = torch.randint(-128, 128, shape, dtype=torch.int8)
            q = torch._make_per_tensor_quantized_tensor(codes, 0.1, -3)
        y = F.max_pool2d(q, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        out["cases"].append({
            "name": f"{name}_{dtype}", "dtype": dtype, "shape": shape, "kernel": k, "stride": s,
            "padding": p, "dilation": d, "ceilMode": ceil,
            "x": codes.flatten().tolist(), "y": y.int_repr().flatten().tolist(), "yShape": list(y.shape),
        })

write_quant_json("int8_maxpool_edges.json", out, newline=True, separators=(",", ":"))
