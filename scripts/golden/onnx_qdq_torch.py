#!/usr/bin/env python3
"""A quantized ONNX file made by PyTorch 1.13, for the quantized importer's golden test.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/onnx_qdq_torch.py
Writes test/golden/onnx/qdq_torch.onnx and test/golden/onnx/qdq_torch.json (read by
test/onnx/quantized-import.test.ts; tests never run Python).

The model (eager mode, QuantStub / DeQuantStub, FloatFunctional for add and cat):
  conv3x3(1→8)+BN+ReLU → [conv3x3(8→8)+ReLU, conv1x1(8→8)] → add → ReLU (fused add_relu
  would need torch.ao's fusion; here a separate ReLU module) → maxpool 2 → cat with a
  conv1x1(8→8) branch → global average pool → flatten → linear(16→10).
QAT-prepared with get_default_qat_qconfig("x86") (fused moving-average observers, uint8
activations with reduce_range, int8 per-channel symmetric weights), observed on a few random
batches in training mode (BN statistics and observers move), converted with
torch.ao.quantization.convert and exported with torch.onnx.export at opset 13.
(The fake-quant model itself does not export: aten::fused_moving_avg_obs_fake_quant has no
ONNX symbolic in 1.13; the converted model exports as a QDQ graph: DequantizeLinear → Conv →
Relu → QuantizeLinear chains, Q → Cast → DQ between layers, Constant nodes for every scale and
zero point, int8 weights and int32 biases through per-axis DequantizeLinear.)
Stored: the input (batch 3, from the same random distribution), PyTorch's quantized output
(onednn kernels: Debian's build has no fbgemm) and the output scale / zero point. onnxruntime's output is computed by the
test itself (onnxruntime-node), since Debian's Python has no onnxruntime.
"""
import json
import os

import torch
import torch.nn as nn
import torch.ao.quantization as tq

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "onnx")
torch.manual_seed(20240611)
torch.backends.quantized.engine = "onednn"  # Debian's 1.13 build has no fbgemm / x86 engine


def T(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.dequant = tq.DeQuantStub()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.skip = nn.Conv2d(8, 8, 1)
        self.add = nn.quantized.FloatFunctional()
        self.relu3 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.branch = nn.Conv2d(8, 8, 1)
        self.cat = nn.quantized.FloatFunctional()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.quant(x)
        y = self.relu1(self.bn1(self.conv1(x)))
        z = self.relu3(self.add.add(self.relu2(self.conv2(y)), self.skip(y)))
        z = self.pool(z)
        z = self.cat.cat([z, self.branch(z)], dim=1)
        z = self.fc(self.flatten(self.gap(z)))
        return self.dequant(z)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    m = Net().train()
    m.qconfig = tq.get_default_qat_qconfig("x86")
    tq.fuse_modules_qat(m, [["conv1", "bn1", "relu1"], ["conv2", "relu2"]], inplace=True)
    tq.prepare_qat(m, inplace=True)
    for _ in range(8):
        m(torch.randn(16, 1, 12, 12))
    m.eval()
    q = tq.convert(m, inplace=False)
    example = torch.randn(2, 1, 12, 12)
    path = os.path.join(OUT_DIR, "qdq_torch.onnx")
    torch.onnx.export(
        q, example, path, opset_version=13, input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    x = torch.randn(3, 1, 12, 12)
    seen = {}
    q.fc.register_forward_hook(lambda _m, _i, y: seen.setdefault("fc", y))  # the quantized logits
    with torch.no_grad():
        out = q(x)
    qout = seen["fc"]
    doc = {
        "torch_version": torch.__version__, "opset": 13, "qconfig": "x86", "file": "qdq_torch.onnx",
        "input": T(x), "torch_output": T(out),
        "output_scale": float(qout.q_scale()), "output_zero_point": int(qout.q_zero_point()),
    }
    with open(os.path.join(OUT_DIR, "qdq_torch.json"), "w") as f:
        json.dump(doc, f)
    print("wrote", path, "torch", torch.__version__, "bytes", os.path.getsize(path))


if __name__ == "__main__":
    main()
