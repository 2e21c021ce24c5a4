"""HistogramObserver with few bins, from PyTorch 1.13, for the cases mutation testing
(npm run mutation, docs/TESTING.md) showed the main observer goldens (scripts/golden/quant.py,
2048 bins) leave open: few bins and small upsample rates make each step of the histogram
merge and of the non-linear parameter search visible in the result. Sequences: ranges that
grow to the left on all-negative data (floor division of negative bin edges), batches inside
the current range (histograms added without rescaling), a constant first batch, a range
symmetric about 0, outliers on both sides, a widening that tiles the old range exactly (only the minimum moves); configurations uint8 affine, int8 symmetric, int32 (2^32 destination bins), reduce_range, custom quant ranges.
Records per step min_val, max_val, the histogram and calculate_qparams().
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/histogram_small.py
Writes test/golden/quant/histogram_small.json (records the torch version)."""

import torch
from torch.ao.quantization import HistogramObserver

from golden_io import write_quant_json

torch.manual_seed(7)


def r(*shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape) * scale + shift).float()


sequences = {
    "negative_growing_left": [r(48, shift=-4.0), r(48, scale=2.0, shift=-9.0), r(48, scale=0.5, shift=-1.0)],
    "inside_range": [torch.linspace(-3.0, 5.0, 40), r(40, scale=0.8, shift=1.0).clamp(-3.0, 5.0), r(40, scale=0.3, shift=-1.0).clamp(-3.0, 5.0)],
    "constant_first": [torch.full((16,), 0.75), r(40, scale=1.5, shift=0.5), r(40, scale=3.0)],
    "outliers": [torch.cat([r(60, scale=0.2), torch.tensor([-7.5, 9.25])]), torch.cat([r(60, scale=0.3, shift=0.2), torch.tensor([-12.0])]), r(60, scale=0.1, shift=-0.1)],
    "symmetric": [torch.linspace(-2.0, 2.0, 33), r(40, scale=0.7).clamp(-2.0, 2.0)],
    "skewed_positive": [torch.rand(50) ** 3 * 6.0, torch.rand(50) ** 4 * 10.0 + 0.25, torch.rand(50) * 0.5],
}
configs = [
    ({"bins": 8, "upsample_rate": 2}, {"bins": 8, "upsampleRate": 2}),
    ({"bins": 16, "upsample_rate": 4, "dtype": torch.qint8, "qscheme": torch.per_tensor_symmetric}, {"bins": 16, "upsampleRate": 4, "dtype": "int8", "qscheme": "per_tensor_symmetric"}),
    ({"bins": 32, "upsample_rate": 1, "reduce_range": True}, {"bins": 32, "upsampleRate": 1, "reduceRange": True}),
    ({"bins": 12, "upsample_rate": 3, "quant_min": 0, "quant_max": 15}, {"bins": 12, "upsampleRate": 3, "quantMin": 0, "quantMax": 15}),
    ({"bins": 64, "upsample_rate": 8, "dtype": torch.qint8, "quant_min": -8, "quant_max": 7}, {"bins": 64, "upsampleRate": 8, "dtype": "int8", "quantMin": -8, "quantMax": 7}),
    ({"bins": 16, "upsample_rate": 2, "dtype": torch.qint32}, {"bins": 16, "upsampleRate": 2, "dtype": "int32"}),
]

cases = []
for torch_kw, ts_kw in configs:
    for name, batches in sequences.items():
        obs = HistogramObserver(**torch_kw)
        steps = []
        for b in batches:
            obs(b)
            s, z = obs.calculate_qparams()
            steps.append({"min_val": float(obs.min_val), "max_val": float(obs.max_val), "histogram": obs.histogram.tolist(),
                          "scale": float(s.item()), "zero_point": int(z.item())})
        cases.append({"kwargs": ts_kw, "sequence": name, "steps": steps})

# The widened range tiles the old one exactly (e = 0): the maximum stays, only the minimum moves.
sequences["exact_tiling_left"] = [torch.linspace(0.0, 8.0, 9), torch.tensor([-8.0, -3.0, 1.0, 3.0])]
for bins in (8, 4):
    obs = HistogramObserver(bins=bins, upsample_rate=1)
    steps = []
    for b in sequences["exact_tiling_left"]:
        obs(b)
        s, z = obs.calculate_qparams()
        steps.append({"min_val": float(obs.min_val), "max_val": float(obs.max_val), "histogram": obs.histogram.tolist(),
                      "scale": float(s.item()), "zero_point": int(z.item())})
    cases.append({"kwargs": {"bins": bins, "upsampleRate": 1}, "sequence": "exact_tiling_left", "steps": steps})

out = {"torch": torch.__version__, "sequences": {k: [b.tolist() for b in v] for k, v in sequences.items()}, "cases": cases}
write_quant_json("histogram_small.json", out)
