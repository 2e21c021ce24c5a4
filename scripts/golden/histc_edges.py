"""torch.histc edge cases for src/quant/observer-histogram.ts's histc (issue 17, found open by
mutation testing): values outside [lo, hi] dropped, x = hi in the last bin, lo = hi meaning
the data's own range (then +-1 when still empty), float32 arithmetic.
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/histc_edges.py
Writes test/golden/quant/histc_edges.json (records the torch version)."""
import json
import os

import torch

cases = []
data = [-3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.0, 2.75, 3.0, 7.0]
for bins, lo, hi, xs in [
    (4, -1.0, 3.0, data),          # -3.5 and 7.0 dropped, 3.0 = hi in the last bin
    (5, 0.0, 0.0, data),           # lo = hi: the data's own range
    (3, 2.0, 2.0, [2.0, 2.0]),     # constant data: range [1, 3]
    (3, 0.0, 0.0, []),             # empty: [-1, 1]
    (7, -0.3, 0.9, [0.1 * k - 0.35 for k in range(14)]),
]:
    h = torch.histc(torch.tensor(xs, dtype=torch.float32), bins=bins, min=lo, max=hi)
    cases.append({"bins": bins, "lo": lo, "hi": hi, "x": xs, "hist": h.tolist()})

errors = []
for lo, hi in [(float("nan"), 1.0), (0.0, float("inf")), (2.0, 1.0)]:
    try:
        torch.histc(torch.tensor([0.5]), bins=2, min=lo, max=hi)
        errors.append({"lo": str(lo), "hi": str(hi), "error": None})
    except RuntimeError as e:
        errors.append({"lo": str(lo), "hi": str(hi), "error": str(e).split("\n")[0]})

out = {"torch": torch.__version__, "cases": cases, "errors": errors}
path = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "quant", "histc_edges.json")
with open(path + ".tmp", "w") as f:
    json.dump(out, f)
os.replace(path + ".tmp", path)
print("wrote", os.path.normpath(path), errors)
