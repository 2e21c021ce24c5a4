#!/usr/bin/env python3
"""PyTorch 1.13's torch.ao.quantization.quantize_dynamic on an MLP, the peer of quant.quantizeDynamic.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/dynamic_quant.py
Writes
  test/golden/quant/dynamic_mlp.safetensors  the float MLP's state_dict (Linear 64→48 → ReLU →
                                             Linear 48→32 → ReLU → Linear 32→10), written with
                                             safetensors_torch.write_safetensors (the format by
                                             hand; Debian ships no python3-safetensors)
  test/golden/quant/dynamic_mlp.json          the input x [16, 64], the float output, and the
                                             outputs of quantize_dynamic with
                                             - default_dynamic_qconfig (per-tensor qint8 weights),
                                             - per_channel_dynamic_qconfig (per-channel qint8 weights),
                                             each under the onednn engine (Debian's torch has no
                                             FBGEMM; activations quantized per batch to quint8 at
                                             run time), plus the weight scales PyTorch chose.
"""
import json
import os
import sys

import torch
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_torch import write_safetensors  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "quant")


def mlp():
    torch.manual_seed(1234)
    return torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.ReLU(), torch.nn.Linear(48, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()


def main():
    torch.backends.quantized.engine = "onednn"  # Debian builds PyTorch without FBGEMM; onednn is its x86 engine
    model = mlp()
    g = torch.Generator().manual_seed(99)
    x = torch.randn(16, 64, generator=g) * 2.0
    x[3] *= 10.0  # one loud row: per-batch activation ranges matter
    with torch.no_grad():
        y_float = model(x)
        out = {}
        scales = {}
        for name, qc in (("per_tensor", default_dynamic_qconfig), ("per_channel", per_channel_dynamic_qconfig)):
            q = quantize_dynamic(mlp(), {torch.nn.Linear: qc}, dtype=torch.qint8)
            out[name] = q(x).flatten().tolist()
            scales[name] = [q[i].weight().q_per_channel_scales().tolist() if name == "per_channel" else [q[i].weight().q_scale()] for i in (0, 2, 4)]
    os.makedirs(HERE, exist_ok=True)
    write_safetensors(os.path.join(HERE, "dynamic_mlp.safetensors"), {k: v.contiguous() for k, v in model.state_dict().items()}, {"source": "scripts/golden/dynamic_quant.py"})
    golden = {
        "torch": torch.__version__,
        "engine": torch.backends.quantized.engine,
        "x": x.flatten().tolist(),
        "x_shape": list(x.shape),
        "float": y_float.flatten().tolist(),
        "dynamic": out,
        "weight_scales": scales,
    }
    with open(os.path.join(HERE, "dynamic_mlp.json"), "w") as f:
        json.dump(golden, f)
    print("wrote dynamic_mlp.safetensors / dynamic_mlp.json")


if __name__ == "__main__":
    main()
