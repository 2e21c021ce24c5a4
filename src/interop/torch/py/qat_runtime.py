"""qat-ts runtime for an exported QAT model (written by qat-ts `exportTorch`; do not edit).

The quantizers here and the layers of qat_layers.py reproduce qat-ts's numerics, so that the
PyTorch model and the qat-ts model compute the same fake-quantized function:
  - fake quantization: ATen's fake_quantize_per_{tensor,channel}_affine (round half to even,
    float32 reciprocal of the scale), straight-through gradient;
  - qparams: PyTorch 1.13's observer formulas (FakeQuantize) or ATen's
    ChooseQuantizationParams (FusedMovingAvgObsFakeQuantize), computed in float32 / float64
    exactly where qat-ts computes them; LSQ through ATen's _fake_quantize_learnable_* ops;
  - conv-bn (qat_layers.py): simulated folding fq(W*s) with s = gamma / sqrt(running_var + eps); with BN on
    running statistics the folded form conv(x, fq(W*s)) + b_fold, the bias on the int32 grid
    S_x*S_w (what qat-ts's convert produces);
  - the schedule (activation delay, BN freeze, observer freeze) as step counts.
Distributed training (torchrun): observer statistics are ALL-REDUCED before each update (the
batch min with MIN, the batch max with MAX, then the moving average of the reduced values),
so every rank holds identical observer state, equal to one process seeing the global batch;
BN uses cross-rank batch statistics (all-reduced sums; torch 1.13's SyncBatchNorm refuses CPU
tensors). Also: the schedule, safetensors I/O without extra packages, a strict state load.
Used by model.py, qat_layers.py, train_ddp.py and predict.py.
"""
import math
import re
import struct

import torch
import torch.distributed as dist
import torch.nn as nn

from qat_io import load_safetensors, save_safetensors  # noqa: F401 (re-exported: rt.load_safetensors)

SYNC = {"observers": True}


def f32(v):
    """Rounds a Python float to float32 (Math.fround)."""
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:
        return math.copysign(math.inf, v)


def rint(v):
    """Round half to even (C nearbyint)."""
    return float(round(v))


def distributed():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


# ---------------------------------------------------------------- observer statistics

def batch_minmax(x, per_channel, axis):
    """Batch min and max (per channel along `axis`), all-reduced across ranks when distributed.
    Returns None when there is nothing finite to record (qat-ts skips such batches)."""
    x = x.detach()
    if per_channel:
        ax = axis % x.dim()
        y = x.transpose(0, ax).reshape(x.shape[ax], -1)
        mn, mx = torch.aminmax(y, dim=1)
    else:
        mn, mx = torch.aminmax(x)
    mn = mn.float().reshape(-1)
    mx = mx.float().reshape(-1)
    finite = bool(torch.isfinite(mn).all() and torch.isfinite(mx).all())
    if SYNC["observers"] and distributed():
        if not finite:
            mn = torch.full_like(mn, math.inf)
            mx = torch.full_like(mx, -math.inf)
        both = torch.cat([-mn, mx])
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        mn, mx = -both[: mn.numel()], both[mn.numel():]
        finite = bool(torch.isfinite(mn).all() and torch.isfinite(mx).all())
    return (mn, mx) if finite else None


def choose_qparams(mn, mx, qmin, qmax, dtype, symmetric, custom_range, eps):
    """PyTorch 1.13 UniformQuantizationObserverBase._calculate_qparams for one range (float32)."""
    if mn == math.inf and mx == -math.inf:
        return 1.0, 0
    mn, mx, eps = f32(mn), f32(mx), f32(eps)
    min_neg, max_pos = min(mn, 0.0), max(mx, 0.0)
    if symmetric:
        amax = max(-min_neg, max_pos)
        scale = max(f32(amax / f32((qmax - qmin) / 2)), eps)
        zp = 0
        if dtype == "uint8":
            zp = (qmin + qmax) // 2 if custom_range else 128
        return scale, zp
    scale = max(f32(f32(max_pos - min_neg) / f32(qmax - qmin)), eps)
    r = rint(f32(min_neg / scale))
    r = int(r) if -(2 ** 31) <= r < 2 ** 31 else -(2 ** 31)
    zp = ((qmin - r + 2 ** 31) % 2 ** 32) - 2 ** 31
    return scale, min(max(zp, qmin), qmax)


SMALL_SCALE = f32(6.1e-5)


def choose_qparams_fused(mn, mx, qmin, qmax, preserve_sparsity):
    """ATen quant_utils::ChooseQuantizationParams (the fused observer + fake-quant kernel)."""
    mn, mx = f32(mn), f32(mx)
    if mn < 0 and mx > 0 and preserve_sparsity:
        half = int((qmax - qmin) / 2)
        sym_qmin = -(half + 1)
        max_scale = max(abs(f32(mn / sym_qmin)), abs(f32(mx / half)))
        mn, mx = f32(max_scale * sym_qmin), f32(max_scale * half)
    mn, mx = min(mn, 0.0), max(mx, 0.0)
    scale = (mx - mn) / (qmax - qmin)
    if f32(scale) == 0 or not math.isfinite(f32(1 / f32(scale))):
        scale = 0.1
    if scale < SMALL_SCALE:
        org = f32(scale)
        scale = SMALL_SCALE
        if mn == 0:
            mx = f32(SMALL_SCALE * (qmax - qmin))
        elif mx == 0:
            mn = f32(-SMALL_SCALE * (qmax - qmin))
        else:
            amp = f32(SMALL_SCALE / org)
            mn, mx = f32(mn * amp), f32(mx * amp)
    from_min, from_max = qmin - mn / scale, qmax - mx / scale
    err_min, err_max = abs(qmin) - abs(mn / scale), abs(qmax) - abs(mx / scale)
    initial = from_min if err_min < err_max else from_max
    if mn < 0 and mx > 0 and preserve_sparsity:
        initial = (qmin + qmax) / 2
    zp = qmin if initial < qmin else qmax if initial > qmax else int(rint(initial))
    return f32(scale), zp


class MovingAverageMinMaxObserver(nn.Module):
    """torch MovingAverage(PerChannel)MinMaxObserver: buffers eps, min_val, max_val."""

    def __init__(self, qmin, qmax, dtype, qscheme, eps, custom_range=False, averaging_constant=0.01, ch_axis=0):
        super().__init__()
        self.qmin, self.qmax, self.dtype_name, self.qscheme = qmin, qmax, dtype, qscheme
        self.per_channel = qscheme.startswith("per_channel")
        self.symmetric = qscheme.endswith("symmetric")
        self.custom_range, self.averaging_constant, self.ch_axis = custom_range, averaging_constant, ch_axis
        self.register_buffer("eps", torch.tensor([eps], dtype=torch.float32))
        if self.per_channel:
            self.register_buffer("min_val", torch.zeros(0))
            self.register_buffer("max_val", torch.zeros(0))
        else:
            self.register_buffer("min_val", torch.tensor(math.inf))
            self.register_buffer("max_val", torch.tensor(-math.inf))

    def unobserved(self):
        if self.per_channel:
            return self.min_val.numel() == 0
        return self.min_val.item() == math.inf and self.max_val.item() == -math.inf

    def forward(self, x):
        if x.numel() == 0:
            return x
        r = batch_minmax(x, self.per_channel, self.ch_axis)
        if r is None:
            return x
        mn, mx = r
        if not self.per_channel:
            mn, mx = mn.reshape(()), mx.reshape(())
        if not self.unobserved():
            c = self.averaging_constant
            mn = self.min_val + c * (mn - self.min_val)
            mx = self.max_val + c * (mx - self.max_val)
        self.min_val, self.max_val = mn.clone(), mx.clone()
        return x

    def calculate_qparams(self):
        mins = self.min_val.reshape(-1).tolist()
        maxs = self.max_val.reshape(-1).tolist()
        if self.per_channel and not mins:
            mins, maxs = [math.inf], [-math.inf]
        eps = self.eps.item()
        qs = [choose_qparams(a, b, self.qmin, self.qmax, self.dtype_name, self.symmetric, self.custom_range, eps) for a, b in zip(mins, maxs)]
        dev = self.min_val.device
        return torch.tensor([q[0] for q in qs], dtype=torch.float32, device=dev), torch.tensor([q[1] for q in qs], dtype=torch.int32, device=dev)


class FakeQuantizeBase(nn.Module):
    def __init__(self, switch_dtype):
        super().__init__()
        self.register_buffer("fake_quant_enabled", torch.tensor([1], dtype=switch_dtype))
        self.register_buffer("observer_enabled", torch.tensor([1], dtype=switch_dtype))

    def enable_fake_quant(self, on=True):
        self.fake_quant_enabled[0] = 1 if on else 0

    def enable_observer(self, on=True):
        self.observer_enabled[0] = 1 if on else 0

    def fake_quantize(self, x):
        obs = self.activation_post_process
        if self.scale.numel() > 1 or obs.per_channel:
            axis = obs.ch_axis % x.dim()
            return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point.to(torch.int32), axis, obs.qmin, obs.qmax)
        return torch.fake_quantize_per_tensor_affine(x, float(self.scale[0]), int(self.zero_point[0]), obs.qmin, obs.qmax)

    def set_qparams(self, scale, zp):
        if self.scale.shape != scale.shape:
            self.scale = scale.to(self.scale.device).clone()
            self.zero_point = zp.to(self.zero_point.device).clone()
        else:
            self.scale.copy_(scale)
            self.zero_point.copy_(zp)


class FakeQuantize(FakeQuantizeBase):
    """torch FakeQuantize: observe, copy the observer's qparams, fake-quantize."""

    def __init__(self, observer):
        super().__init__(torch.uint8)
        self.activation_post_process = observer
        self.register_buffer("scale", torch.tensor([1.0]))
        self.register_buffer("zero_point", torch.tensor([0], dtype=torch.int32))

    def forward(self, x):
        if self.observer_enabled[0] == 1:
            self.activation_post_process(x.detach())
            self.set_qparams(*self.activation_post_process.calculate_qparams())
        return self.fake_quantize(x) if self.fake_quant_enabled[0] == 1 else x


class FusedMovingAvgObsFakeQuantize(FakeQuantizeBase):
    """torch FusedMovingAvgObsFakeQuantize (PyTorch 1.13's default QAT quantizer), explicitly."""

    def __init__(self, observer):
        super().__init__(torch.int32)
        self.activation_post_process = observer
        self.register_buffer("scale", torch.tensor([1.0]))
        self.register_buffer("zero_point", torch.tensor([0], dtype=torch.int32))

    def forward(self, x):
        obs = self.activation_post_process
        if obs.per_channel and obs.min_val.numel() == 0:
            c = x.shape[obs.ch_axis % x.dim()]
            obs.min_val = torch.full((c,), math.inf, device=x.device)
            obs.max_val = torch.full((c,), -math.inf, device=x.device)
            self.scale = torch.zeros(c, device=x.device)
            self.zero_point = torch.zeros(c, dtype=torch.int32, device=x.device)
        if self.observer_enabled[0] != 0:
            r = batch_minmax(x, obs.per_channel, obs.ch_axis)
            if r is not None:
                c = obs.averaging_constant
                for name, cur in (("min_val", r[0]), ("max_val", r[1])):
                    run = getattr(obs, name).reshape(-1)
                    new = torch.where(torch.isinf(run), cur, run + c * (cur - run))
                    setattr(obs, name, new.reshape(getattr(obs, name).shape).clone())
        if self.fake_quant_enabled[0] == 0:
            return x
        qs = [choose_qparams_fused(a, b, obs.qmin, obs.qmax, obs.symmetric) for a, b in zip(obs.min_val.reshape(-1).tolist(), obs.max_val.reshape(-1).tolist())]
        self.scale.copy_(torch.tensor([q[0] for q in qs], dtype=torch.float32))
        self.zero_point.copy_(torch.tensor([q[1] for q in qs], dtype=torch.int32))
        return self.fake_quantize(x)


class LearnableFakeQuantize(FakeQuantizeBase):
    """torch _LearnableFakeQuantize as qat-ts's LearnableFakeQuantize: learnable scale / zero point
    (ATen's _fake_quantize_learnable_* ops), static estimate from the observer, LSQ initialisation
    S = 2*mean|x|/sqrt(qmax) on the first batch when init_mode is "lsq"."""

    def __init__(self, observer, qmin, qmax, channels, use_grad_scaling, init_mode):
        super().__init__(torch.uint8)
        self.activation_post_process = observer
        self.qmin, self.qmax, self.use_grad_scaling, self.init_mode = qmin, qmax, use_grad_scaling, init_mode
        self.scale = nn.Parameter(torch.ones(channels))
        self.zero_point = nn.Parameter(torch.zeros(channels))
        self.register_buffer("static_enabled", torch.tensor([1], dtype=torch.uint8))
        self.register_buffer("learning_enabled", torch.tensor([0], dtype=torch.uint8))
        self.register_buffer("eps", torch.tensor([torch.finfo(torch.float32).eps]))
        self.initialized = False

    def enable_observer(self, on=True):
        self.static_enabled[0] = 1 if on else 0

    def lsq_scale(self, x):
        x = x.detach().abs().double()
        obs = self.activation_post_process
        if obs.per_channel and self.scale.numel() > 1:
            ax = obs.ch_axis % x.dim()
            mean = x.transpose(0, ax).reshape(x.shape[ax], -1).mean(1)
        else:
            mean = x.mean().reshape(1)
        return torch.clamp(2 * mean / math.sqrt(self.qmax), min=float(self.eps[0])).float()

    def forward(self, x):
        obs = self.activation_post_process
        with torch.no_grad():
            if self.static_enabled[0] == 1:
                if bool(torch.isfinite(x).all()):
                    obs(x.detach())
                    s, z = obs.calculate_qparams()
                    self.scale.copy_(self.lsq_scale(x) if self.init_mode == "lsq" else s.expand_as(self.scale) if s.numel() == 1 else s)
                    self.zero_point.copy_(z.float().expand_as(self.zero_point) if z.numel() == 1 else z.float())
                    self.initialized = True
            else:
                if self.init_mode == "lsq" and not self.initialized and bool(torch.isfinite(x).all()):
                    self.scale.copy_(self.lsq_scale(x))
                    self.initialized = True
                self.scale.clamp_(min=float(self.eps[0]))
        if self.fake_quant_enabled[0] != 1:
            return x
        if obs.symmetric:
            with torch.no_grad():
                self.zero_point.zero_()
        gf = 1.0 / math.sqrt(x.numel() * self.qmax) if self.use_grad_scaling else 1.0
        if obs.per_channel:
            return torch._fake_quantize_learnable_per_channel_affine(x, self.scale, self.zero_point, obs.ch_axis % x.dim(), self.qmin, self.qmax, gf)
        return torch._fake_quantize_learnable_per_tensor_affine(x, self.scale, self.zero_point, self.qmin, self.qmax, gf)


# ---------------------------------------------------------------- schedule

ACT_QUANTIZER = re.compile(r"(^|\.)activation_post_process(_\d+)?$")


def quantizers(model, which="all"):
    out = []
    for name, m in model.named_modules():
        if not isinstance(m, FakeQuantizeBase):
            continue
        is_weight = name.endswith("weight_fake_quant")
        if (is_weight and which != "activations") or (not is_weight and ACT_QUANTIZER.search(name) and which != "weights"):
            out.append(m)
    return out


def schedule_state(schedule, step):
    act_on = step >= schedule.get("activationQuantDelaySteps", 0)
    fb, fo = schedule.get("freezeBnStep"), schedule.get("freezeObserverStep")
    return act_on, fb is not None and step >= fb, fo is not None and step >= fo


def apply_schedule(model, schedule, step):
    """qat-ts qatSchedule at the start of `step` (idempotent)."""
    act_on, bn_frozen, obs_frozen = schedule_state(schedule, step)
    for q in quantizers(model, "activations"):
        q.enable_fake_quant(act_on)
    if bn_frozen:
        for m in model.modules():
            if hasattr(m, "freeze_bn_stats"):
                m.freeze_bn_stats()
    if obs_frozen:
        for q in quantizers(model):
            q.enable_observer(False)


def frozen_bn_paths(model):
    return [n for n, m in model.named_modules() if getattr(m, "freeze_bn", False)]


# ---------------------------------------------------------------- state

def load_state(model, tensors):
    """Strict load that accepts resized observer buffers (per-channel min/max, scale, zero point)."""
    own = dict(model.named_parameters())
    bufs = {n: b for n, b in model.named_buffers()}
    missing = sorted((set(own) | set(bufs)) - set(tensors))
    extra = sorted(set(tensors) - set(own) - set(bufs))
    if missing or extra:
        raise KeyError(f"state mismatch: missing {missing[:8]}, unexpected {extra[:8]}")
    with torch.no_grad():
        for name, p in own.items():
            if p.shape != tensors[name].shape:
                raise ValueError(f"parameter {name}: shape {list(tensors[name].shape)} in the file, {list(p.shape)} in the model")
            p.copy_(tensors[name].to(p.dtype))
        for name, b in bufs.items():
            owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            leaf = name.rsplit(".", 1)[-1]
            owner._buffers[leaf] = tensors[name].to(b.dtype).clone()
    for m in model.modules():
        if isinstance(m, LearnableFakeQuantize):
            m.initialized = True  # a loaded scale is an estimate (qat-ts: applyStateEntry)


def state_tensors(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
