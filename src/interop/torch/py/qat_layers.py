"""qat-ts QAT layers for an exported model (written by qat-ts `exportTorch`; do not edit).

Conv / linear with the weight through `weight_fake_quant` (the bias on the int32 grid S_x*S_w
once the input grid is known, as qat-ts's simulatedBias), conv-bn / linear-bn with simulated BN
folding (qat-ts QatConvBn2d: fq(W*s), s = gamma / sqrt(running_var + eps); batch statistics
while BN is live, the folded form once it uses running statistics), BN with cross-rank batch
statistics under torchrun, and the small modules model.py places at qat-ts's paths.
Used by model.py.
"""
import math

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from qat_runtime import distributed


def bn_forward(bn, x):
    """BatchNorm as qat-ts runs it; in training across ranks, with global batch statistics."""
    if not bn.training:
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    factor = bn.momentum if bn.momentum is not None else 0.0
    if bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            factor = 1.0 / float(bn.num_batches_tracked.item())
    if not distributed():
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, factor, bn.eps)
    from torch.distributed.nn.functional import all_reduce as dall_reduce
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.tensor([float(x.numel() // x.shape[1])], device=x.device)
    dist.all_reduce(count)
    n = float(count.item())
    mean = dall_reduce(x.sum(dims)) / n
    d = x - mean.reshape(shape)
    var = dall_reduce((d * d).sum(dims)) / n
    y = d * torch.rsqrt(var + bn.eps).reshape(shape)
    if bn.weight is not None:
        y = y * bn.weight.reshape(shape) + bn.bias.reshape(shape)
    if bn.track_running_stats:
        with torch.no_grad():
            bn.running_mean.mul_(1 - factor).add_(mean.detach() * factor)
            bn.running_var.mul_(1 - factor).add_(var.detach() * (n / max(n - 1, 1)) * factor)
    return y


class BatchNorm2d(nn.BatchNorm2d):
    def forward(self, x):
        return bn_forward(self, x)


class BatchNorm1d(nn.BatchNorm1d):
    def forward(self, x):
        return bn_forward(self, x)


def simulated_bias(b, xq, wq):
    """The bias on the int32 grid S_x*S_w once the input's grid is known (qat-ts simulatedBias)."""
    if xq is None or int(xq.fake_quant_enabled[0]) != 1 or int(wq.fake_quant_enabled[0]) != 1:
        return b
    sx = torch.tensor(abs(float(xq.scale.reshape(-1)[0])), dtype=torch.float32)
    sw = wq.scale.detach().abs().to(torch.float32)
    if sw.numel() != 1 and sw.numel() != b.numel():
        return b
    s = (sx * sw).double()
    q = torch.clamp(torch.round(b.detach().double() / s), -(2 ** 31), 2 ** 31 - 1)
    bq = (q * s).float()
    return b + (bq - b).detach()


def apply_act(y, act):
    if act is None:
        return y
    lo, hi = act
    return F.relu(y) if hi == math.inf else F.hardtanh(y, lo, hi)


class QatConv2d(nn.Module):
    def __init__(self, cin, cout, kernel, stride, padding, dilation, groups, bias, act=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, *kernel))
        self.bias = nn.Parameter(torch.empty(cout)) if bias else None
        self.conv = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        self.act = act

    def forward(self, x, xq=None):
        w = self.weight_fake_quant(self.weight)
        b = simulated_bias(self.bias, xq, self.weight_fake_quant) if self.bias is not None else None
        return apply_act(F.conv2d(x, w, b, **self.conv), self.act)


class QatLinear(nn.Module):
    def __init__(self, fin, fout, bias, act=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fout, fin))
        self.bias = nn.Parameter(torch.empty(fout)) if bias else None
        self.act = act

    def forward(self, x, xq=None):
        w = self.weight_fake_quant(self.weight)
        b = simulated_bias(self.bias, xq, self.weight_fake_quant) if self.bias is not None else None
        return apply_act(F.linear(x, w, b), self.act)


class _BnFolded(nn.Module):
    """conv/linear -> BN (-> act) with simulated BN folding (qat-ts QatConvBn2d / QatLinearBn1d)."""

    def __init__(self, weight_shape, bias, bn, act):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*weight_shape))
        self.bias = nn.Parameter(torch.empty(weight_shape[0])) if bias else None
        self.bn = bn
        self.act = act
        self.freeze_bn = False

    def layer(self, x, w, b):
        raise NotImplementedError

    def forward(self, x, xq=None):
        bn = self.bn
        std = torch.sqrt(bn.running_var + bn.eps)
        s = bn.weight / std if bn.weight is not None else 1 / std
        w = self.weight_fake_quant(self.weight * s.reshape([-1] + [1] * (self.weight.dim() - 1)))
        if not bn.training:
            centered = self.bias - bn.running_mean if self.bias is not None else -bn.running_mean
            b = s * centered
            if bn.bias is not None:
                b = bn.bias + b
            return apply_act(self.layer(x, w, simulated_bias(b, xq, self.weight_fake_quant)), self.act)
        y = self.layer(x, w, None)
        shape = [1, -1] + [1] * (y.dim() - 2)
        y = y * (1 / s).reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return apply_act(bn_forward(bn, y), self.act)

    def freeze_bn_stats(self):
        self.freeze_bn = True
        self.bn.train(False)

    def train(self, mode=True):
        self.training = mode
        for name, m in self.named_children():
            if name != "bn" or not self.freeze_bn:
                m.train(mode)
        return self


class QatConvBn2d(_BnFolded):
    def __init__(self, cin, cout, kernel, stride, padding, dilation, groups, bias, bn, act=None):
        super().__init__((cout, cin // groups, *kernel), bias, bn, act)
        self.conv = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

    def layer(self, x, w, b):
        return F.conv2d(x, w, b, **self.conv)


class QatLinearBn1d(_BnFolded):
    def __init__(self, fin, fout, bias, bn, act=None):
        super().__init__((fout, fin), bias, bn, act)

    def layer(self, x, w, b):
        return F.linear(x, w, b)


class Add(nn.Module):
    def forward(self, a, b):
        return a + b


class Concat(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)


class Node(nn.Module):
    """A container at a dotted path (children may be named 0, 1, ... as in nn.Sequential)."""

    def __getitem__(self, i):
        return self._modules[str(i)]


def place(root, path, module):
    """Registers `module` at dotted `path` under root, creating Node containers on the way."""
    parts = path.split(".")
    owner = root
    for p in parts[:-1]:
        if p not in owner._modules:
            owner.add_module(p, Node())
        owner = owner._modules[p]
    owner.add_module(parts[-1], module)
    return module
