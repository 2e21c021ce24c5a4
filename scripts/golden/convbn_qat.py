"""Golden values for the QAT conv-bn-relu module (issue 5): PyTorch 1.13's
torch.nn.intrinsic.qat.ConvBnReLU2d with the x86 QAT qconfig (fused per-channel weight
fake-quant), fixed weights and batches; forward output and gradients (input, weight, BN gamma
and beta) for two training steps with batch statistics, then after freeze_bn_stats().
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/convbn_qat.py
Writes test/golden/quant/convbn_qat.json (records the torch version)."""
import json
import os

import torch
import torch.nn.intrinsic.qat as nniqat
from torch.ao.quantization import get_default_qat_qconfig

torch.manual_seed(7)
qconfig = get_default_qat_qconfig("x86")
m = nniqat.ConvBnReLU2d(3, 4, 3, stride=1, padding=1, bias=False, qconfig=qconfig)
m.train()
with torch.no_grad():
    m.weight.copy_(torch.randn_like(m.weight) * 0.3)
    m.bn.weight.copy_(torch.rand(4) + 0.5)
    m.bn.bias.copy_(torch.randn(4) * 0.1)
    m.bn.running_mean.copy_(torch.randn(4) * 0.1)
    m.bn.running_var.copy_(torch.rand(4) + 0.5)

init = {
    "weight": m.weight.detach().flatten().tolist(),
    "bn_weight": m.bn.weight.detach().tolist(),
    "bn_bias": m.bn.bias.detach().tolist(),
    "running_mean": m.bn.running_mean.tolist(),
    "running_var": m.bn.running_var.tolist(),
}
steps = []
for step in range(3):
    if step == 2:
        m.apply(nniqat.freeze_bn_stats)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    g = torch.randn(2, 4, 5, 5)
    for p in m.parameters():
        p.grad = None
    y = m(x)
    y.backward(g)
    steps.append({
        "frozen": step == 2,
        "x": x.detach().flatten().tolist(),
        "g": g.flatten().tolist(),
        "y": y.detach().flatten().tolist(),
        "dx": x.grad.flatten().tolist(),
        "dweight": m.weight.grad.flatten().tolist(),
        "dbn_weight": m.bn.weight.grad.tolist(),
        "dbn_bias": m.bn.bias.grad.tolist(),
        "running_mean": m.bn.running_mean.tolist(),
        "running_var": m.bn.running_var.tolist(),
        "w_scale": m.weight_fake_quant.scale.tolist(),
        "w_zero_point": m.weight_fake_quant.zero_point.tolist(),
    })
    with torch.no_grad():  # a small update so later steps see changed weights
        m.weight -= 0.01 * m.weight.grad

out = {"torch": torch.__version__, "shape": {"x": [2, 3, 5, 5], "weight": [4, 3, 3, 3]}, "init": init, "steps": steps}
path = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "quant", "convbn_qat.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
