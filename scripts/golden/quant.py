#!/usr/bin/env python3
"""Golden values for src/quant numerics (qparams, observers, fake quantization, LSQ).

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/quant.py
Writes test/golden/quant/{qparams,observers,fake_quant,lsq}.json (read by test/quant/*.test.ts;
the tests never run Python). Every file records torch.__version__.

Encoding: float32 values are written with the fewest digits that round-trip in float32
(numpy's repr), so a reader must apply Math.fround; doubles (grad factors) are written in
full. Non-finite numbers are the strings "inf", "-inf", "nan". Integer tensors are lists of
ints. Tensors are {"shape": [...], "data": [...]}.
"""
import json
import math
import os
import warnings

import numpy as np
import torch
from torch.ao.quantization import (
    FakeQuantize,
    FixedQParamsFakeQuantize,
    FusedMovingAvgObsFakeQuantize,
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)
from torch.ao.quantization.fake_quantize import default_fixed_qparams_range_0to1_fake_quant
from torch.ao.quantization._learnable_fake_quantize import _LearnableFakeQuantize

warnings.filterwarnings("ignore")
OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "quant")
RNG = np.random.default_rng(1313)
torch.manual_seed(1313)

DTYPES = {"uint8": torch.quint8, "int8": torch.qint8, "int32": torch.qint32}
QSCHEMES = {
    "per_tensor_affine": torch.per_tensor_affine,
    "per_tensor_symmetric": torch.per_tensor_symmetric,
    "per_channel_affine": torch.per_channel_affine,
    "per_channel_symmetric": torch.per_channel_symmetric,
}


def f32(v):
    """A float32 value as a JSON-safe number with the fewest round-trip digits."""
    v = np.float32(v)
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return float(str(v))


def T(t):
    t = t.detach()
    if t.dtype in (torch.float32, torch.float64):
        data = [f32(v) for v in t.reshape(-1).tolist()]
    else:
        data = [int(v) for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": data}


def torch_kwargs(kw):
    """camelCase TS-style options -> PyTorch keyword arguments."""
    names = {"quantMin": "quant_min", "quantMax": "quant_max", "reduceRange": "reduce_range", "chAxis": "ch_axis",
             "averagingConstant": "averaging_constant", "upsampleRate": "upsample_rate"}
    out = {}
    for k, v in kw.items():
        if k == "dtype":
            v = DTYPES[v]
        elif k == "qscheme":
            v = QSCHEMES[v]
        out[names.get(k, k)] = v
    return out


def write(name, payload):
    payload = {"torch_version": torch.__version__, **payload}
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as fh:
        json.dump(payload, fh, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def rand32(n, scale=1.0, offset=0.0):
    return (RNG.standard_normal(n) * scale + offset).astype(np.float32)


# ---------------------------------------------------------------------------------------
# qparams.json
# ---------------------------------------------------------------------------------------

def qparam_configs():
    cfgs = [
        {"dtype": "uint8", "qscheme": "per_tensor_affine"},
        {"dtype": "uint8", "qscheme": "per_tensor_affine", "reduceRange": True},
        {"dtype": "int8", "qscheme": "per_tensor_affine"},
        {"dtype": "int8", "qscheme": "per_tensor_affine", "reduceRange": True},
        {"dtype": "int8", "qscheme": "per_tensor_symmetric"},
        {"dtype": "int8", "qscheme": "per_tensor_symmetric", "reduceRange": True},
        {"dtype": "uint8", "qscheme": "per_tensor_symmetric"},
        {"dtype": "uint8", "qscheme": "per_tensor_symmetric", "quantMin": 0, "quantMax": 127},
        {"dtype": "uint8", "qscheme": "per_tensor_affine", "quantMin": 0, "quantMax": 255, "reduceRange": True},
        {"dtype": "int8", "qscheme": "per_tensor_symmetric", "quantMin": -127, "quantMax": 127, "eps": 2 ** -12},
        {"dtype": "int32", "qscheme": "per_tensor_symmetric"},
        {"dtype": "int32", "qscheme": "per_tensor_affine"},
    ]
    for bits in range(2, 9):
        cfgs.append({"dtype": "int8", "qscheme": "per_tensor_symmetric", "quantMin": -(2 ** (bits - 1)), "quantMax": 2 ** (bits - 1) - 1})
        cfgs.append({"dtype": "int8", "qscheme": "per_tensor_affine", "quantMin": -(2 ** (bits - 1)), "quantMax": 2 ** (bits - 1) - 1,
                     "reduceRange": bits % 2 == 0})
        cfgs.append({"dtype": "uint8", "qscheme": "per_tensor_affine", "quantMin": 0, "quantMax": 2 ** bits - 1})
        cfgs.append({"dtype": "uint8", "qscheme": "per_tensor_symmetric", "quantMin": 0, "quantMax": 2 ** bits - 1})
    return cfgs


def minmax_pairs():
    pairs = [(0.0, 0.0), (1.0, 1.0), (-1.0, -1.0), (-3.0, -1.0), (2.0, 5.0), (-0.5, 0.25), (-1e4, 1e3),
             (-1e-9, 1e-9), (-1e-38, 3e-39), (0.0, 1e-7), (-2.0, 2.0), (-1.0, 1.0), (-128.0, 127.0),
             (1e30, 2e30), (-3.4e38, 3.4e38)]
    # Zero points landing on .5 ties: scale exactly 1/16 for uint8 affine, min = -(k + 0.5)/16.
    for k in (0, 1, 2, 3, 10, 11):
        lo = -(k + 0.5) / 16
        pairs.append((lo, lo + 255 / 16))
    for _ in range(24):
        a, b = sorted(RNG.standard_normal(2) * 10 ** RNG.uniform(-3, 3))
        pairs.append((a, b))
    return [(f32(a), f32(b)) for a, b in pairs]


def gen_qparams():
    ranges = []
    for dtype in ("uint8", "int8", "int32"):
        for reduce in (False, True):
            obs = MinMaxObserver(dtype=DTYPES[dtype], reduce_range=reduce)
            ranges.append({"dtype": dtype, "reduceRange": reduce, "qmin": obs.quant_min, "qmax": obs.quant_max})
    for cfg in qparam_configs():
        kw = {k: v for k, v in cfg.items() if k != "qscheme"}
        obs = MinMaxObserver(**torch_kwargs({**kw, "qscheme": "per_tensor_affine"}))
        ranges.append({**{k: cfg[k] for k in ("dtype", "quantMin", "quantMax") if k in cfg},
                       "reduceRange": cfg.get("reduceRange", False), "qmin": obs.quant_min, "qmax": obs.quant_max})

    cases = []
    pairs = minmax_pairs()
    for cfg in qparam_configs():
        obs = MinMaxObserver(**torch_kwargs(cfg))
        results = []
        for lo, hi in pairs:
            s, z = obs._calculate_qparams(torch.tensor(lo), torch.tensor(hi))
            results.append([lo, hi, f32(s.item()), int(z.item())])
        s, z = obs.calculate_qparams()  # unobserved: (1, 0)
        results.append(["inf", "-inf", f32(s.item()), int(z.item())])
        cases.append({"config": cfg, "qmin": obs.quant_min, "qmax": obs.quant_max, "results": results})

    per_channel = []
    for cfg in ({"dtype": "int8", "qscheme": "per_channel_symmetric"}, {"dtype": "uint8", "qscheme": "per_channel_affine"},
                {"dtype": "int8", "qscheme": "per_channel_affine", "quantMin": -8, "quantMax": 7}):
        obs = PerChannelMinMaxObserver(**torch_kwargs(cfg))
        s0, z0 = obs.calculate_qparams()
        mins = torch.tensor([p[0] for p in pairs[:20]])
        maxs = torch.tensor([p[1] for p in pairs[:20]])
        s, z = obs._calculate_qparams(mins, maxs)
        per_channel.append({"config": cfg, "mins": T(mins), "maxs": T(maxs), "scales": T(s), "zero_points": T(z),
                            "empty": [f32(s0.item()), int(z0.item())]})

    fused = []
    fused_pairs = pairs + [(f32(-1e-6), f32(2e-6)), (0.0, f32(1e-3)), (f32(-1e-3), 0.0), (f32(-0.004), f32(0.0035))]
    for qmin, qmax, sym in ((0, 255, False), (0, 127, False), (-128, 127, True), (-127, 127, True), (-8, 7, True),
                            (0, 15, False), (-128, 127, False), (0, 255, True)):
        results = []
        for lo, hi in fused_pairs:
            if lo > hi:
                continue
            x = torch.zeros(4)
            rmin, rmax = torch.tensor(lo), torch.tensor(hi)
            scale, zp = torch.tensor([1.0]), torch.tensor([0], dtype=torch.int)
            torch.fused_moving_avg_obs_fake_quant(x, torch.tensor([0]), torch.tensor([1]), rmin, rmax, scale, zp,
                                                  0.01, qmin, qmax, 0, False, sym)
            results.append([lo, hi, f32(scale.item()), int(zp.item())])
        fused.append({"qmin": qmin, "qmax": qmax, "symmetric": sym, "results": results})
    write("qparams.json", {"ranges": ranges, "cases": cases, "per_channel": per_channel, "fused": fused})


# ---------------------------------------------------------------------------------------
# observers.json
# ---------------------------------------------------------------------------------------

def sequences():
    seqs = {}
    shape = [4, 3, 8]
    n = 96
    seqs["randn"] = [rand32(n, s, o).reshape(shape) for s, o in ((1, 0), (2, 0.5), (0.5, -0.2), (3, 1))]
    seqs["relu"] = [np.maximum(rand32(n, s), 0).astype(np.float32).reshape(shape) for s in (1, 1.5, 0.7)]
    grow = [rand32(n, 0.3 * (k + 1)) for k in range(4)]
    grow[2][5] = 9.5
    grow[3][7] = -12.25
    seqs["growing"] = [g.reshape(shape) for g in grow]
    ties = [(RNG.integers(-40, 40, n) / 8 + 1 / 16).astype(np.float32).reshape(shape) for _ in range(3)]
    seqs["ties"] = ties
    seqs["constant_first"] = [np.full(shape, 0.75, np.float32)] + [rand32(n, 1).reshape(shape) for _ in range(2)]
    seqs["small"] = [RNG.uniform(0.1, 0.9, n).astype(np.float32).reshape(shape) for _ in range(3)]
    seqs["negative"] = [(-np.abs(rand32(n, 2)) - 0.5).astype(np.float32).reshape(shape) for _ in range(3)]
    hist_shape = [8, 64]
    seqs["hist_randn"] = [rand32(512, s, o).reshape(hist_shape) for s, o in ((1, 0), (1.5, 0.2), (0.8, -0.1), (2.5, 0))]
    seqs["hist_relu"] = [np.maximum(rand32(512, s), 0).astype(np.float32).reshape(hist_shape) for s in (1, 2, 3)]
    seqs["hist_wide"] = [rand32(512, s).reshape(hist_shape) for s in (4, 8, 6)]
    seqs["hist_same"] = [rand32(512, 1).reshape(hist_shape)] * 2
    return seqs


OBSERVER_CONFIGS = [
    ("MinMaxObserver", {}, "randn"),
    ("MinMaxObserver", {"dtype": "int8", "qscheme": "per_tensor_symmetric"}, "growing"),
    ("MinMaxObserver", {"reduceRange": True}, "ties"),
    ("MinMaxObserver", {"dtype": "int8", "quantMin": -8, "quantMax": 7}, "negative"),
    ("MinMaxObserver", {"dtype": "uint8", "qscheme": "per_tensor_symmetric"}, "relu"),
    ("MovingAverageMinMaxObserver", {}, "randn"),
    ("MovingAverageMinMaxObserver", {"quantMin": 0, "quantMax": 255, "reduceRange": True}, "growing"),
    ("MovingAverageMinMaxObserver", {"averagingConstant": 0.1, "dtype": "int8", "qscheme": "per_tensor_symmetric"}, "ties"),
    ("MovingAverageMinMaxObserver", {}, "constant_first"),
    ("PerChannelMinMaxObserver", {"dtype": "int8", "qscheme": "per_channel_symmetric"}, "randn"),
    ("PerChannelMinMaxObserver", {"chAxis": 1}, "growing"),
    ("PerChannelMinMaxObserver", {"chAxis": -1, "dtype": "int8", "qscheme": "per_channel_affine", "quantMin": -8, "quantMax": 7}, "ties"),
    ("MovingAveragePerChannelMinMaxObserver", {"dtype": "int8", "qscheme": "per_channel_symmetric"}, "randn"),
    ("MovingAveragePerChannelMinMaxObserver", {"chAxis": 2, "averagingConstant": 0.25}, "negative"),
    ("HistogramObserver", {}, "hist_randn"),
    ("HistogramObserver", {"reduceRange": True}, "hist_relu"),
    ("HistogramObserver", {"dtype": "int8", "qscheme": "per_tensor_symmetric"}, "hist_wide"),
    ("HistogramObserver", {"quantMin": 0, "quantMax": 127}, "hist_same"),
    ("HistogramObserver", {}, "small"),
    ("HistogramObserver", {}, "constant_first"),
    ("HistogramObserver", {"bins": 256, "upsampleRate": 16}, "growing"),
]


def gen_observers():
    seqs = sequences()
    configs = []
    for name, kw, seq in OBSERVER_CONFIGS:
        obs = getattr(torch.ao.quantization, name)(**torch_kwargs(kw))
        steps = []
        for batch in seqs[seq]:
            obs(torch.from_numpy(batch.copy()))
            s, z = obs.calculate_qparams()
            step = {"min_val": T(obs.min_val), "max_val": T(obs.max_val), "scale": T(s), "zero_point": T(z)}
            if name == "HistogramObserver":
                step["histogram_sum"] = float(obs.histogram.double().sum())
            steps.append(step)
        cfg = {"observer": name, "kwargs": kw, "sequence": seq, "steps": steps,
               "state_dict": [[k, str(v.dtype).replace("torch.", ""), list(v.shape)] for k, v in obs.state_dict().items()]}
        if name == "HistogramObserver" and seq in ("hist_randn", "growing"):
            cfg["final_histogram"] = T(obs.histogram)
        configs.append(cfg)
    write("observers.json", {"sequences": {k: [T(torch.from_numpy(b)) for b in v] for k, v in seqs.items()}, "configs": configs})


# ---------------------------------------------------------------------------------------
# fake_quant.json
# ---------------------------------------------------------------------------------------

def boundary_inputs(scale, zp, qmin, qmax, n_random=40):
    vals = [0.0, -0.0]
    for k in range(qmin - zp - 3, qmax - zp + 4):
        vals += [(k + 0.5) * scale, k * scale]
    for q in (qmin, qmax):
        for d in (-0.51, -0.5, -0.49, 0.0, 0.49, 0.5, 0.51, 1.0):
            vals.append((q - zp + d) * scale)
    vals += list(RNG.standard_normal(n_random) * scale * (qmax - qmin) / 3)
    vals += [1e30, -1e30]
    return torch.tensor(np.array(vals, dtype=np.float32))


def fq_case(x, fn, **meta):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    return {**meta, "x": T(x), "y": T(y), "dy": T(dy), "dx": T(x.grad)}


def gen_fake_quant():
    per_tensor = []
    for scale, zp, qmin, qmax in ((0.1, 0, -128, 127), (1 / 16, 3, 0, 15), (0.0123, 128, 0, 255), (0.05, 64, 0, 127),
                                  (0.3, 0, -8, 7), (0.7, -2, -2, 1), (f32(0.0392156862745098), 0, 0, 255)):
        x = boundary_inputs(scale, zp, qmin, qmax)
        per_tensor.append(fq_case(x, lambda t, s=scale, z=zp, a=qmin, b=qmax: torch.fake_quantize_per_tensor_affine(t, s, z, a, b),
                                  scale=f32(scale), zero_point=zp, qmin=qmin, qmax=qmax))
    per_channel = []
    for shape, axis, qmin, qmax in (([3, 4, 5], 0, -128, 127), ([2, 3, 4], 1, 0, 255), ([2, 3, 4], 2, -8, 7), ([5, 6], 1, 0, 15)):
        C = shape[axis]
        scales = torch.tensor(RNG.uniform(0.02, 0.3, C).astype(np.float32))
        zps = torch.tensor(RNG.integers(qmin, qmax + 1, C), dtype=torch.int32)
        x = torch.tensor((RNG.standard_normal(shape) * 0.1 * (qmax - qmin) / 4).astype(np.float32))
        x.view(-1)[:3] = torch.tensor([0.0, 1e30, -1e30])
        per_channel.append(fq_case(x, lambda t, s=scales, z=zps, a=axis, lo=qmin, hi=qmax: torch.fake_quantize_per_channel_affine(t, s, z, a, lo, hi),
                                   shape=shape, axis=axis, scales=T(scales), zero_points=T(zps), qmin=qmin, qmax=qmax))
    write("fake_quant.json", {"per_tensor": per_tensor, "per_channel": per_channel, "modules": gen_fq_modules()})


def module_entry(mod):
    return [[k, str(v.dtype).replace("torch.", ""), list(v.shape)] for k, v in mod.state_dict().items()]


def run_module(mod, batches, actions=None):
    """Forward each batch (with grad of y·dy); `actions[i]` is called before batch i."""
    steps = []
    for i, b in enumerate(batches):
        if actions and i in actions:
            actions[i](mod)
        x = b.clone().requires_grad_(True)
        y = mod(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        step = {"y": T(y), "dy": T(dy), "dx": T(x.grad), "scale": T(mod.scale), "zero_point": T(mod.zero_point)}
        app = mod.activation_post_process
        if hasattr(app, "min_val"):
            step["min_val"] = T(app.min_val)
            step["max_val"] = T(app.max_val)
        if isinstance(mod.scale, torch.nn.Parameter):
            step["dscale"] = T(mod.scale.grad) if mod.scale.grad is not None else None
            step["dzero_point"] = T(mod.zero_point.grad) if mod.zero_point.grad is not None else None
            mod.scale.grad = None
            mod.zero_point.grad = None
        steps.append(step)
    return steps


def act_batches(n=3, shape=(2, 3, 4, 4)):
    return [torch.tensor((RNG.standard_normal(shape) * s + o).astype(np.float32)) for s, o in ((1, 0.2), (1.5, 0), (0.8, -0.3), (2, 0.1))[:n]]


def gen_fq_modules():
    weights = [torch.tensor((RNG.standard_normal((4, 3, 3, 3)) * 0.2).astype(np.float32)) for _ in range(3)]
    specs = [
        ("FakeQuantize", {"observer": "MovingAverageMinMaxObserver", "quantMin": 0, "quantMax": 255, "dtype": "uint8",
                          "qscheme": "per_tensor_affine", "reduceRange": True}, "act", None),
        ("FakeQuantize", {"observer": "MovingAverageMinMaxObserver", "quantMin": 0, "quantMax": 255}, "act", "toggles"),
        ("FakeQuantize", {"observer": "MovingAveragePerChannelMinMaxObserver", "quantMin": -128, "quantMax": 127, "dtype": "int8",
                          "qscheme": "per_channel_symmetric", "chAxis": 0}, "weight", None),
        ("FakeQuantize", {"observer": "MinMaxObserver", "quantMin": -8, "quantMax": 7, "dtype": "int8",
                          "qscheme": "per_tensor_symmetric"}, "weight", None),
        ("FakeQuantize", {"observer": "HistogramObserver", "quantMin": 0, "quantMax": 255, "dtype": "uint8", "reduceRange": True}, "act", None),
        ("FusedMovingAvgObsFakeQuantize", {"observer": "MovingAverageMinMaxObserver", "quantMin": 0, "quantMax": 255,
                                           "reduceRange": True}, "act", "fq_off"),
        ("FusedMovingAvgObsFakeQuantize", {"observer": "MovingAverageMinMaxObserver", "quantMin": 0, "quantMax": 255}, "act", None),
        ("FusedMovingAvgObsFakeQuantize", {"observer": "MovingAveragePerChannelMinMaxObserver", "quantMin": -128, "quantMax": 127,
                                           "dtype": "int8", "qscheme": "per_channel_symmetric"}, "weight", None),
        ("FusedMovingAvgObsFakeQuantize", {"observer": "MovingAverageMinMaxObserver", "quantMin": -128, "quantMax": 127,
                                           "dtype": "int8", "qscheme": "per_tensor_symmetric"}, "weight", None),
    ]
    toggles = {
        "toggles": {1: lambda m: m.disable_observer(), 2: lambda m: m.disable_fake_quant()},
        "fq_off": {2: lambda m: m.disable_fake_quant()},
    }
    out = []
    for cls_name, kw, data, toggle in specs:
        cls = {"FakeQuantize": FakeQuantize, "FusedMovingAvgObsFakeQuantize": FusedMovingAvgObsFakeQuantize}[cls_name]
        tkw = torch_kwargs({k: v for k, v in kw.items() if k != "observer"})
        mod = cls(observer=getattr(torch.ao.quantization, kw["observer"]), **tkw)
        keys_before = module_entry(mod)
        batches = act_batches() if data == "act" else weights
        steps = run_module(mod, batches, toggles.get(toggle))
        out.append({"module": cls_name, "kwargs": kw, "toggles": toggle, "batches": [T(b) for b in batches], "steps": steps,
                    "state_dict_initial": keys_before, "state_dict": module_entry(mod)})
    fixed = default_fixed_qparams_range_0to1_fake_quant()
    x = torch.tensor(np.linspace(-0.2, 1.2, 57).astype(np.float32))
    steps = run_module(fixed, [x])
    out.append({"module": "FixedQParamsFakeQuantize", "kwargs": {"observer": "defaultFixedQParamsRange0to1Observer"}, "toggles": None,
                "batches": [T(x)], "steps": steps, "state_dict_initial": module_entry(fixed), "state_dict": module_entry(fixed)})
    return out


# ---------------------------------------------------------------------------------------
# lsq.json
# ---------------------------------------------------------------------------------------

def lsq_case(x, scale, zp, fn, **meta):
    x = x.clone().requires_grad_(True)
    s = scale.clone().requires_grad_(True)
    z = zp.clone().requires_grad_(True)
    y = fn(x, s, z)
    dy = torch.randn_like(y)
    y.backward(dy)
    return {**meta, "x": T(x), "scale": T(s), "zero_point": T(z), "y": T(y), "dy": T(dy), "dx": T(x.grad),
            "dscale": T(s.grad), "dzero_point": T(z.grad)}


def gen_lsq():
    per_tensor = []
    for scale, zp, qmin, qmax in ((0.1, 0.0, -128, 127), (1 / 16, 2.5, 0, 15), (0.0123, 127.6, 0, 255), (0.3, -3.2, -8, 7),
                                  (0.25, -2.5, -8, 7), (0.05, 3.7, 0, 255), (0.7, 0.4, -2, 1)):
        x = boundary_inputs(scale, round(zp), qmin, qmax, n_random=30)
        for gf in (1.0, 1.0 / math.sqrt(x.numel() * qmax)):
            per_tensor.append(lsq_case(x, torch.tensor([scale]), torch.tensor([zp]),
                                       lambda t, s, z, a=qmin, b=qmax, g=gf: torch._fake_quantize_learnable_per_tensor_affine(t, s, z, a, b, g),
                                       qmin=qmin, qmax=qmax, grad_factor=gf))
    per_channel = []
    for shape, axis, qmin, qmax in (([3, 4, 5], 0, -128, 127), ([2, 3, 4], 1, 0, 255), ([2, 3, 4], 2, -8, 7), ([4, 6], 0, 0, 15)):
        C = shape[axis]
        scales = torch.tensor(RNG.uniform(0.02, 0.3, C).astype(np.float32))
        zps = torch.tensor((RNG.integers(qmin, qmax + 1, C) + RNG.choice([0.0, 0.5, -0.5, 0.3], C)).clip(qmin, qmax).astype(np.float32))
        x = torch.tensor((RNG.standard_normal(shape) * 0.1 * (qmax - qmin) / 4).astype(np.float32))
        n = x.numel()
        for gf in (1.0, 1.0 / math.sqrt(n * qmax)):
            per_channel.append(lsq_case(x, scales, zps,
                                        lambda t, s, z, a=axis, lo=qmin, hi=qmax, g=gf: torch._fake_quantize_learnable_per_channel_affine(t, s, z, a, lo, hi, g),
                                        shape=shape, axis=axis, qmin=qmin, qmax=qmax, grad_factor=gf))
    modules = []
    act = _LearnableFakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, use_grad_scaling=True)
    keys0 = module_entry(act)
    batches = act_batches(4)
    steps = run_module(act, batches, {2: lambda m: m.enable_param_learning()})
    modules.append({"kwargs": {"observer": "MovingAverageMinMaxObserver", "quantMin": 0, "quantMax": 255, "useGradScaling": True},
                    "enable_param_learning_at": 2, "batches": [T(b) for b in batches], "steps": steps,
                    "state_dict_initial": keys0, "state_dict": module_entry(act)})
    w = _LearnableFakeQuantize(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-8, quant_max=7, dtype=torch.qint8,
                               qscheme=torch.per_channel_symmetric, ch_axis=0, channel_len=4, use_grad_scaling=True)
    keys0 = module_entry(w)
    wb = [torch.tensor((RNG.standard_normal((4, 3, 3, 3)) * 0.2).astype(np.float32)) for _ in range(3)]
    steps = run_module(w, wb, {1: lambda m: m.enable_param_learning()})
    modules.append({"kwargs": {"observer": "MovingAveragePerChannelMinMaxObserver", "quantMin": -8, "quantMax": 7, "dtype": "int8",
                               "qscheme": "per_channel_symmetric", "chAxis": 0, "channelLen": 4, "useGradScaling": True},
                    "enable_param_learning_at": 1, "batches": [T(b) for b in wb], "steps": steps,
                    "state_dict_initial": keys0, "state_dict": module_entry(w)})
    write("lsq.json", {"per_tensor": per_tensor, "per_channel": per_channel, "modules": modules})


if __name__ == "__main__":
    gen_qparams()
    gen_observers()
    gen_fake_quant()
    gen_lsq()
