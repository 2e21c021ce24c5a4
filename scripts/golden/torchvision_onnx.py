#!/usr/bin/env python3
"""Narrow torchvision architectures exported to ONNX, for test/onnx/torchvision.test.ts.

Run with Debian's PyTorch 1.13 + torchvision 0.14:  /usr/bin/python3 scripts/golden/torchvision_onnx.py
Writes test/golden/onnx/torchvision/ (tests never run Python):
  - <name>.onnx for resnet18, mobilenet_v2, mobilenet_v3_small, shufflenet_v2: opset 13,
    exported in eval mode with constant folding (PyTorch folds each BN into its Conv), input
    "input" [N, 3, 64, 64] and output "output" [N, 10], dynamic batch axis;
  - input.bin: one fixed batch [2, 3, 64, 64] of N(0, 1) values, float32 little-endian,
    shared by every model;
  - torchvision.json: the torch / torchvision versions, the input's shape and file, and per
    model its file, parameter count, how it was built and PyTorch's float output on input.bin.

Same structure as torchvision's models, fewer channels, 10 classes:
  - resnet18: torchvision's ResNet class hard-codes widths 64/128/256/512 in __init__, so
    NarrowResNet subclasses it and rebuilds the same layers with torchvision's own
    BasicBlock and ResNet._make_layer (forward inherited) at widths 8/16/32/64, [2, 2, 2, 2];
  - mobilenet_v2: torchvision MobileNetV2(width_mult=0.25) (its last conv keeps 1280 channels,
    as torchvision does for width_mult < 1);
  - mobilenet_v3_small: torchvision MobileNetV3 with _mobilenet_v3_conf("mobilenet_v3_small",
    width_mult=0.25): Hardswish, Hardsigmoid squeeze-excitation blocks kept;
  - shufflenet_v2: torchvision ShuffleNetV2(stages_repeats=[4, 8, 4],
    stages_out_channels=[8, 16, 32, 64, 128]) (x0.5 has [24, 48, 96, 192, 1024]); channel
    split and shuffle kept.
With `--full DIR`, writes the full-size torchvision models instead (resnet18, mobilenet_v2,
mobilenet_v3_small, shufflenet_v2_x0_5; 1000 classes, input [N, 3, 224, 224], same BN treatment,
no outputs recorded) to DIR, for benchmarks; they are ~75 MB together and not committed.
Random weights (torchvision's initialisers, seed 20261207), BN affine parameters drawn
uniformly (γ ∈ [0.5, 1.5], β ∈ [−0.25, 0.25]) so they are not the identity, BN running
statistics from 4 train-mode forward batches of 8 random N(0, 1) images (cumulative average),
then eval().
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
from torchvision.models.resnet import BasicBlock, ResNet

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "onnx", "torchvision")
SEED = 20261207
CLASSES = 10
IMAGE = (3, 64, 64)


class NarrowResNet(ResNet):
    """torchvision's ResNet (forward and _make_layer inherited) with the stem and stage widths as arguments."""

    def __init__(self, widths, layers, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, widths[0], layers[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * BasicBlock.expansion, num_classes)
        for m in self.modules():  # ResNet.__init__'s initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def build(name):
    if name == "resnet18":
        return NarrowResNet([8, 16, 32, 64], [2, 2, 2, 2], CLASSES), "NarrowResNet(torchvision ResNet, BasicBlock, [2,2,2,2], widths 8/16/32/64)"
    if name == "mobilenet_v2":
        return torchvision.models.MobileNetV2(num_classes=CLASSES, width_mult=0.25), "torchvision MobileNetV2(width_mult=0.25)"
    if name == "mobilenet_v3_small":
        setting, last = _mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
        return MobileNetV3(setting, last, num_classes=CLASSES), "torchvision MobileNetV3(_mobilenet_v3_conf('mobilenet_v3_small', width_mult=0.25))"
    if name == "shufflenet_v2":
        return torchvision.models.ShuffleNetV2([4, 8, 4], [8, 16, 32, 64, 128], num_classes=CLASSES), "torchvision ShuffleNetV2([4,8,4], [8,16,32,64,128])"
    raise ValueError(name)


FULL = {
    "resnet18": lambda: torchvision.models.resnet18(),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(),
    "shufflenet_v2_x0_5": lambda: torchvision.models.shufflenet_v2_x0_5(),
}


def set_batchnorm(model, gen, image=IMAGE):
    """Random affine parameters, then running statistics from train-mode batches of random images."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_((torch.rand(m.num_features, generator=gen) - 0.5) * 0.5)
                m.reset_running_stats()
                m.momentum = None  # cumulative moving average over the batches below
        model.train()
        for _ in range(4):
            model(torch.randn(8, *image, generator=gen))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
    model.eval()


def export(name, x, gen):
    torch.manual_seed(SEED)
    model, built = build(name)
    set_batchnorm(model, gen)
    path = os.path.join(OUT_DIR, name + ".onnx")
    torch.onnx.export(
        model, x, path, opset_version=13, do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    with torch.no_grad():
        y = model(x)
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params} parameters, {os.path.getsize(path)} bytes, output max |y| {y.abs().max().item():.4f}")
    return {"file": name + ".onnx", "built": built, "parameters": params,
            "output": {"shape": list(y.shape), "data": [float(v) for v in y.reshape(-1).tolist()]}}


def export_full(out_dir):
    """Full-size torchvision models (random weights) for the benchmarks."""
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    for name, make in FULL.items():
        torch.manual_seed(SEED)
        model = make()
        set_batchnorm(model, gen, (3, 224, 224))
        path = os.path.join(out_dir, name + ".onnx")
        torch.onnx.export(
            model, torch.randn(1, 3, 224, 224, generator=gen), path, opset_version=13, do_constant_folding=True,
            training=torch.onnx.TrainingMode.EVAL, input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, {os.path.getsize(path)} bytes -> {path}")
    print("torch", torch.__version__, "torchvision", torchvision.__version__)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        return export_full(sys.argv[2])
    os.makedirs(OUT_DIR, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    x = torch.randn(2, *IMAGE, generator=gen)
    with open(os.path.join(OUT_DIR, "input.bin"), "wb") as f:
        f.write(x.numpy().astype("<f4").tobytes())
    models = {name: export(name, x, gen) for name in ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2")}
    doc = {"torch_version": torch.__version__, "torchvision_version": torchvision.__version__, "opset": 13,
           "input": {"file": "input.bin", "shape": list(x.shape), "dtype": "float32"}, "models": models}
    with open(os.path.join(OUT_DIR, "torchvision.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print("wrote", OUT_DIR, "torch", torch.__version__, "torchvision", torchvision.__version__)


if __name__ == "__main__":
    main()
