"""HistogramObserver (2048 bins) on 100,000 values, from PyTorch 1.13: with a total of 10^5 the
search's quantile bounds k·10^-5·total are integers, so a cumulative count equal to a bound and
the bound's scaling by the total both decide the path (written after mutation testing left the
bounds of the non-linear parameter search unpinned, docs/mutation-survivors.md). Data are made
from a formula the test repeats (no data in the file): a bulk in [-1, 1) from i·7919 mod 10^4,
and single integer-valued outliers on one or both sides, or a sparse low tail (PyTorch's first
histc runs over [int(min), int(max)], so a non-integer extreme falls outside its own histogram).
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/histogram_edges.py
Writes test/golden/quant/histogram_edges.json (read by test/quant/observer-mutants2.test.ts;
records the torch version)."""

import numpy as np
import torch
from torch.ao.quantization import HistogramObserver

from golden_io import write_quant_json

N = 100000


def bulk(n):
    i = np.arange(n, dtype=np.float64)
    return ((i * 7919) % 10000) / 5000.0 - 1.0


cases = []
for name, lows, highs in (("both", [-9.0], [12.0]), ("low", [-9.0], []), ("high", [], [12.0]), ("two_each", [-9.0, -7.0], [3.0, 5.0]), ("low_tail", [-9.5, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0], [2.0])):
    x = np.concatenate([bulk(N - len(lows) - len(highs)), np.array(lows + highs)]).astype(np.float32)
    obs = HistogramObserver()
    obs(torch.tensor(x))
    s, z = obs.calculate_qparams()
    cases.append({"name": name, "lows": lows, "highs": highs, "min_val": float(obs.min_val), "max_val": float(obs.max_val),
                  "scale": float(s.item()), "zero_point": int(z.item())})

write_quant_json("histogram_edges.json", {"torch": torch.__version__, "n": N, "cases": cases})
