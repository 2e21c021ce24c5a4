#!/usr/bin/env python3
"""Golden values for src/nn layers and the model zoo's PyTorch twins.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/nn_layers.py
Writes test/golden/nn/layers.json (read by test/nn/*.test.ts; tests never run Python):
  - layers: Linear, Conv2d (stride, padding, dilation, groups, no bias), BatchNorm1d/2d
    (train steps then eval, running statistics and num_batches_tracked after each step,
    momentum None), MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, ReLU6, Hardtanh,
    Sigmoid, Flatten. Weights are random here and stored in the JSON (the TypeScript test
    loads them; torch's init is not reproduced). Gradients are of sum(y * gy), gy stored.
  - models: state_dict keys / shapes / dtypes and repr() of PyTorch modules built exactly
    like nn.models.mlp / smallCnn / resnet20 / mobilenetV2Small.
Tensors are {"shape": [...], "data": [flat float32 values]}.
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from nn_models import MODEL_BUILDERS  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "nn", "layers.json")
torch.manual_seed(424242)


def T(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def rn(*shape):
    return torch.randn(shape)


def with_grads(module, x, params):
    """Forward, then backward of sum(y * gy); returns the case's tensors."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    out = {"x": T(x), "y": T(y), "gy": T(gy), "dx": T(x.grad)}
    for name in params:
        p = getattr(module, name)
        if p is not None:
            out[name] = T(p)
            out["d" + name] = T(p.grad)
    return out


def linear_cases():
    cases = []
    for inf, outf, bias, batch in [(5, 3, True, 4), (7, 2, False, 3)]:
        m = nn.Linear(inf, outf, bias=bias)
        with torch.no_grad():
            m.weight.copy_(rn(outf, inf))
            if bias:
                m.bias.copy_(rn(outf))
        case = {"in": inf, "out": outf, "bias": bias}
        case.update(with_grads(m, rn(batch, inf), ["weight", "bias"]))
        cases.append(case)
    return cases


CONV_CONFIGS = [
    dict(cin=3, cout=4, k=3, stride=1, padding=1, dilation=1, groups=1, bias=True, hw=7),
    dict(cin=4, cout=6, k=3, stride=2, padding=1, dilation=1, groups=2, bias=True, hw=8),
    dict(cin=4, cout=4, k=3, stride=1, padding=2, dilation=2, groups=4, bias=False, hw=7),
    dict(cin=3, cout=5, k=1, stride=1, padding=0, dilation=1, groups=1, bias=False, hw=5),
    dict(cin=2, cout=3, k=[3, 2], stride=[2, 1], padding=[0, 1], dilation=1, groups=1, bias=True, hw=6),
]


def conv_cases():
    cases = []
    for c in CONV_CONFIGS:
        k = tuple(c["k"]) if isinstance(c["k"], list) else c["k"]
        st = tuple(c["stride"]) if isinstance(c["stride"], list) else c["stride"]
        pd = tuple(c["padding"]) if isinstance(c["padding"], list) else c["padding"]
        m = nn.Conv2d(c["cin"], c["cout"], k, stride=st, padding=pd, dilation=c["dilation"], groups=c["groups"], bias=c["bias"])
        with torch.no_grad():
            m.weight.copy_(torch.randn_like(m.weight))
            if m.bias is not None:
                m.bias.copy_(torch.randn_like(m.bias))
        case = dict(c)
        case["repr"] = repr(m)
        case.update(with_grads(m, rn(2, c["cin"], c["hw"], c["hw"]), ["weight", "bias"]))
        cases.append(case)
    return cases


def bn_case(kind, num_features, shape, momentum, affine, steps):
    cls = nn.BatchNorm2d if kind == "2d" else nn.BatchNorm1d
    m = cls(num_features, momentum=momentum, affine=affine)
    if affine:
        with torch.no_grad():
            m.weight.copy_(torch.rand(num_features) + 0.5)
            m.bias.copy_(torch.randn(num_features))
    case = {"kind": kind, "num_features": num_features, "momentum": momentum, "affine": affine, "repr": repr(m)}
    if affine:
        case["weight"] = T(m.weight)
        case["bias"] = T(m.bias)
    case["steps"] = []
    for mode in steps:
        m.train(mode == "train")
        x = rn(*shape) * 2 + 0.5
        step = {"mode": mode}
        step.update(with_grads(m, x, []))
        step["running_mean"] = T(m.running_mean)
        step["running_var"] = T(m.running_var)
        step["num_batches_tracked"] = int(m.num_batches_tracked)
        if affine:
            step["dweight"] = T(m.weight.grad)
            step["dbias"] = T(m.bias.grad)
            m.weight.grad = None
            m.bias.grad = None
        case["steps"].append(step)
    return case


def bn_cases():
    return [
        bn_case("2d", 3, (4, 3, 5, 5), 0.1, True, ["train", "train", "eval"]),
        bn_case("2d", 2, (3, 2, 4, 4), None, False, ["train", "train", "train", "eval"]),
        bn_case("1d", 4, (8, 4), 0.3, True, ["train", "eval"]),
        bn_case("1d", 3, (4, 3, 6), 0.1, True, ["train", "eval"]),
    ]


def simple_cases():
    specs = [
        ("MaxPool2d", {"kernelSize": 2}, nn.MaxPool2d(2), (2, 3, 8, 8)),
        ("MaxPool2d", {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True}, nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 2, 7, 7)),
        ("MaxPool2d", {"kernelSize": 2, "stride": 1, "dilation": 2}, nn.MaxPool2d(2, stride=1, dilation=2), (1, 2, 6, 6)),
        ("AvgPool2d", {"kernelSize": 2}, nn.AvgPool2d(2), (2, 3, 6, 6)),
        ("AvgPool2d", {"kernelSize": 3, "stride": 2, "padding": 1, "countIncludePad": False}, nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 2, 7, 7)),
        ("AvgPool2d", {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True}, nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 6, 6)),
        ("AdaptiveAvgPool2d", {"outputSize": 1}, nn.AdaptiveAvgPool2d(1), (2, 3, 7, 7)),
        ("AdaptiveAvgPool2d", {"outputSize": 3}, nn.AdaptiveAvgPool2d(3), (2, 2, 7, 7)),
        ("ReLU", {}, nn.ReLU(), (2, 3, 4, 4)),
        ("ReLU6", {}, nn.ReLU6(), (2, 3, 4, 4)),
        ("Hardtanh", {"minVal": -0.5, "maxVal": 0.5}, nn.Hardtanh(-0.5, 0.5), (2, 3, 4)),
        ("Sigmoid", {}, nn.Sigmoid(), (2, 5)),
        ("Flatten", {}, nn.Flatten(), (2, 3, 4, 4)),
        ("Flatten", {"startDim": 0, "endDim": 2}, nn.Flatten(0, 2), (2, 3, 4, 4)),
    ]
    cases = []
    for kind, opts, m, shape in specs:
        x = rn(*shape) * 4 if kind in ("ReLU6",) else rn(*shape)
        case = {"kind": kind, "options": opts, "repr": repr(m)}
        case.update(with_grads(m, x, []))
        cases.append(case)
    return cases


def model_goldens():
    out = {}
    for name, build in MODEL_BUILDERS.items():
        m = build()
        sd = m.state_dict()
        out[name] = {
            "keys": list(sd.keys()),
            "shapes": [list(v.shape) for v in sd.values()],
            "dtypes": [str(v.dtype).replace("torch.", "") for v in sd.values()],
            "num_parameters": sum(p.numel() for p in m.parameters()),
            "repr": repr(m),
            "output_shape": list(m.eval()(torch.zeros(2, 1, 28, 28)).shape),
        }
    return out


def main():
    data = {
        "torch_version": torch.__version__,
        "linear": linear_cases(),
        "conv2d": conv_cases(),
        "batchnorm": bn_cases(),
        "simple": simple_cases(),
        "models": model_goldens(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f)
    print(f"wrote {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
