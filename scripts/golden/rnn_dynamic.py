#!/usr/bin/env python3
"""PyTorch 1.13's quantize_dynamic on nn.LSTM / nn.GRU, the peer of quant.quantizeDynamic's
DynamicQuantizedLSTM / GRU (src/quant/quantize-dynamic-rnn.ts).

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/rnn_dynamic.py
Writes test/golden/quant/rnn_dynamic.json (read by test/quant/dynamic-rnn.test.ts): for each
case (LSTM / GRU; layers, bidirectional, batch_first) the float module's state_dict under
PyTorch's keys, an input, the float output, and the outputs of
torch.ao.quantization.quantize_dynamic(model, {nn.LSTM / nn.GRU: qconfig}, dtype=torch.qint8)
with default_dynamic_qconfig (per-tensor qint8 weights, PyTorch's default) and
per_channel_dynamic_qconfig (per-row qint8 weights), under the onednn engine (Debian builds
torch without FBGEMM; activations are quantized per tensor to quint8 at run time with
reduce_range, 7-bit codes), plus the weight scales PyTorch chose.
"""
import json
import os

import numpy  # noqa: F401  (torch's .numpy())
import torch
import torch.nn as nn
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "golden", "quant")

CASES = [
    ("lstm_2layer_bidir", nn.LSTM, dict(input_size=8, hidden_size=16, num_layers=2, bidirectional=True), (9, 3)),
    ("lstm_batch_first", nn.LSTM, dict(input_size=8, hidden_size=16, batch_first=True), (4, 9)),
    ("gru_2layer_bidir", nn.GRU, dict(input_size=8, hidden_size=16, num_layers=2, bidirectional=True), (9, 3)),
    ("gru_batch_first", nn.GRU, dict(input_size=8, hidden_size=16, batch_first=True), (4, 9)),
]


def flat(t):
    # float32 values in their shortest round-trip form (Math.fround of each gives the tensor back)
    return [float(str(v)) for v in t.detach().float().reshape(-1).numpy()]


def main():
    torch.backends.quantized.engine = "onednn"
    cases = []
    for i, (name, cls, kw, lead) in enumerate(CASES):
        torch.manual_seed(100 + i)
        m = cls(**kw).eval()
        g = torch.Generator().manual_seed(200 + i)
        x = torch.randn(*lead, kw["input_size"], generator=g) * 1.5
        with torch.no_grad():
            y = m(x)[0]
            out, scales = {}, {}
            for qname, qc in (("per_tensor", default_dynamic_qconfig), ("per_channel", per_channel_dynamic_qconfig)):
                q = quantize_dynamic(nn.Sequential(m), {cls: qc}, dtype=torch.qint8)
                out[qname] = flat(q(x)[0])
                wb = q[0]._weight_bias()["weight"]
                scales[qname] = {k: (w.q_per_channel_scales().tolist() if qname == "per_channel" else [w.q_scale()]) for k, w in wb.items()}
        cases.append({
            "name": name, "kind": cls.__name__, "options": kw,
            "state_dict": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in m.state_dict().items()},
            "x": {"shape": list(x.shape), "data": flat(x)}, "float": flat(y), "dynamic": out, "weight_scales": scales,
        })
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "rnn_dynamic.json"), "w") as f:
        json.dump({"torch": torch.__version__, "engine": torch.backends.quantized.engine, "cases": cases}, f)
    print("wrote rnn_dynamic.json")


if __name__ == "__main__":
    main()
