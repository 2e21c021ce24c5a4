#!/usr/bin/env python3
"""Float ONNX files exported by PyTorch 1.13, for the importer's golden tests.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/onnx_float.py
Writes test/golden/onnx/*.onnx and test/golden/onnx/float.json (read by
test/onnx/golden.test.ts; tests never run Python):
  - small_cnn.onnx: the SmallCNN twin (scripts/golden/nn_models.py, 12×12 input) with random weights and
    BN statistics, exported in eval mode with constant folding (PyTorch folds each BN into
    its Conv; initializers get names like onnx::Conv_42), torch.flatten → Flatten.
  - view_net.onnx: conv→BN→ReLU6, conv(stride 2, groups)→BN→Hardswish, a residual Add,
    avg pool, Concat, `x.view(x.size(0), -1)` (the Shape→Gather→Unsqueeze→Concat→Reshape
    chain), Linear, Sigmoid, Linear on a 3-D tensor (MatMul + Add), Softmax; exported
    without constant folding so BatchNormalization nodes and state-dict initializer names
    stay (TrainingMode.PRESERVE on a model in eval mode). Both have a dynamic batch dim.
For each model: inputs at batch 2 and 3 and PyTorch's outputs, as {"shape", "data"}.
"""
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from nn_models import SmallCNN  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "onnx")
torch.manual_seed(20240607)


def T(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def randomize_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)


class ViewNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU6()
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.act2 = nn.Hardswish()
        self.shortcut = nn.AvgPool2d(2)
        self.pool = nn.AvgPool2d(2, stride=2)
        self.fc1 = nn.Linear(16 * 3 * 3, 12)
        self.gate = nn.Sigmoid()
        self.fc2 = nn.Linear(4, 5)

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        z = self.act2(self.bn2(self.conv2(y)))
        z = z + self.shortcut(y)
        z = self.pool(z)
        z = torch.cat([z, z * 0.5], dim=1)
        z = z.view(z.size(0), -1)
        z = self.gate(self.fc1(z))
        z = self.fc2(z.view(z.size(0), 3, 4))
        return torch.softmax(z, dim=-1)


def export(name, model, x_shape, folding):
    """folding=True: eval export (BN folded into Conv); False: BN nodes and state-dict names kept."""
    model.eval()
    path = os.path.join(OUT_DIR, name + ".onnx")
    example = torch.randn(*x_shape)
    mode = torch.onnx.TrainingMode.EVAL if folding else torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(
        model, example, path, opset_version=13, do_constant_folding=folding, training=mode,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    cases = []
    for batch in (2, 3):
        x = torch.randn(batch, *x_shape[1:])
        with torch.no_grad():
            cases.append({"input": T(x), "output": T(model(x))})
    return {"file": name + ".onnx", "folding": folding, "cases": cases}


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    small = SmallCNN(image_size=12)  # fc1 288→128 keeps the committed file small
    randomize_bn(small)
    view = ViewNet()
    randomize_bn(view)
    models = {
        "small_cnn": export("small_cnn", small, (1, 1, 12, 12), True),
        "view_net": export("view_net", view, (1, 1, 12, 12), False),
    }
    doc = {"torch_version": torch.__version__, "opset": 13, "models": models}
    with open(os.path.join(OUT_DIR, "float.json"), "w") as f:
        json.dump(doc, f)
    print("wrote", OUT_DIR, "torch", torch.__version__)


if __name__ == "__main__":
    main()
