"""Golden values for the folded form of the QAT conv-bn-relu module once BN uses running
statistics (issue 17): PyTorch 1.13's torch.nn.intrinsic.qat.ConvBnReLU2d with the x86 QAT
qconfig, fed by the x86 activation fake-quantizer, observed for three batch-statistics steps,
then observers disabled and BN on running statistics, in two modes:
  - "eval": m.eval()
  - "frozen_train": m.train() then freeze_bn_stats
For each mode: PyTorch's output y and gradients (input, weight, BN gamma, beta) for a fixed
upstream gradient, and "y_int": the output the integer model computes, i.e. PyTorch's
fake-quantized folded weight fq(W*s) convolved with the fake-quantized input (float64) plus
the folded bias b = beta - gamma*mu/sigma quantized by torch.quantize_per_channel(qint32) to
the grid S_x*S_w[c] (rounded half to even), then ReLU. PyTorch's own y is the BN path with a
float bias, so y and y_int differ by the bias rounding; the script checks the difference is
well above float noise and that no bias sits near a rounding tie.
Run with Debian's python3-torch:  /usr/bin/python3 scripts/golden/convbn_folded.py
Writes test/golden/quant/convbn_folded.json (records the torch version)."""

import torch
import torch.nn.functional as F
import torch.nn.intrinsic.qat as nniqat
from torch.ao.quantization import get_default_qat_qconfig

from golden_io import write_quant_json

torch.manual_seed(11)
qconfig = get_default_qat_qconfig("x86")
act_fq = qconfig.activation()
m = nniqat.ConvBnReLU2d(3, 4, 3, stride=1, padding=1, bias=False, qconfig=qconfig)
with torch.no_grad():
    m.weight.copy_(torch.randn_like(m.weight) * 0.3)
    m.bn.weight.copy_(torch.rand(4) + 0.5)
    m.bn.bias.copy_(torch.randn(4) * 0.1)

X_SHAPE = [2, 3, 6, 6]
m.train()
act_fq.train()
for _ in range(3):  # observers and BN running statistics see a few batches
    m(act_fq(torch.randn(*X_SHAPE) * 1.5 + 0.3))
act_fq.apply(torch.ao.quantization.disable_observer)
m.apply(torch.ao.quantization.disable_observer)


def tensor_json(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": t.detach().flatten().tolist()}


state = {k: tensor_json(v) for k, v in m.state_dict().items()}
act_state = {k: tensor_json(v) for k, v in act_fq.state_dict().items()}
x = torch.randn(*X_SHAPE) * 1.5 + 0.3
g = torch.randn(2, 4, 6, 6)


def integer_grid_output():
    """relu(conv(fq(x), fq(W*s)) + q32(b_fold)) in float64, with PyTorch's quantizers and rounding."""
    with torch.no_grad():
        bn = m.bn
        std = torch.sqrt(bn.running_var + bn.eps)
        s = bn.weight / std
        w_fold = m.weight_fake_quant(m.weight * s.reshape(-1, 1, 1, 1))
        b_fold = bn.bias - bn.running_mean * s  # float32, as the module computes it
        s_x = act_fq.scale.to(torch.float32)
        grid = (s_x * m.weight_fake_quant.scale.to(torch.float32)).to(torch.float64)  # fround(S_x*S_w)
        b_q = torch.quantize_per_channel(b_fold, grid, torch.zeros(4, dtype=torch.long), 0, torch.qint32)
        frac = (b_fold.to(torch.float64) / grid) % 1.0
        assert bool(((frac - 0.5).abs() > 0.005).all()), f"a folded bias is near a rounding tie: {frac}"
        b_int = b_q.dequantize().to(torch.float64)  # float32 values, as the bias tensor holds them
        y = F.conv2d(act_fq(x).to(torch.float64), w_fold.to(torch.float64), b_int, padding=1)
        return torch.relu(y), (b_int - b_fold.to(torch.float64)).abs().max().item()


modes = {}
for mode in ["eval", "frozen_train"]:
    if mode == "eval":
        m.eval()
    else:
        m.train()
        m.apply(nniqat.freeze_bn_stats)
    for p in m.parameters():
        p.grad = None
    xin = act_fq(x).detach().requires_grad_(True)
    y = m(xin)
    y.backward(g)
    y_int, bias_shift = integer_grid_output()
    diff = (y_int - y.to(torch.float64)).abs().max().item()
    assert diff > 1e-5, f"{mode}: PyTorch's BN path and the integer grid differ by only {diff}"
    modes[mode] = {
        "y": y.detach().flatten().tolist(),
        "y_int": y_int.flatten().tolist(),
        "dx": xin.grad.flatten().tolist(),
        "dweight": m.weight.grad.flatten().tolist(),
        "dbn_weight": m.bn.weight.grad.tolist(),
        "dbn_bias": m.bn.bias.grad.tolist(),
        "max_bias_shift": bias_shift,
        "max_y_vs_y_int": diff,
    }

out = {
    "torch": torch.__version__,
    "x_shape": X_SHAPE,
    "x": x.flatten().tolist(),
    "g": g.flatten().tolist(),
    "state": state,
    "act_state": act_state,
    "modes": modes,
}
write_quant_json("convbn_folded.json", out)
