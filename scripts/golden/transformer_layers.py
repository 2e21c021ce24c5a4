#!/usr/bin/env python3
"""Golden values for the transformer ops and layers (src/ops/nn-functional.ts, src/ops/attention.ts,
src/nn/layers/{embedding,normalization,attention,transformer}.ts).

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/transformer_layers.py
Writes (read by test/nn/transformer-layers.test.ts; tests never run Python):
  test/golden/transformer/layers.json
    ops:      gelu (erf, tanh), layer_norm (weight, bias, two normalized dims), embedding
              (padding_idx, repeated indices), scaled dot-product attention. torch 1.13 has no
              F.scaled_dot_product_attention, so its reference here is written from torch 2's
              definition: softmax(q @ k^T * scale + mask) @ v, bool mask True = take part.
    mha:      torch.nn.MultiheadAttention: self-attention (packed projection), shared key/value,
              separate key and value, batch_first both ways, bool and float attn_mask, bool
              key_padding_mask, averaged and per-head weights, bias=False, unbatched input.
    encoder_layer / encoder: torch.nn.TransformerEncoderLayer (norm_first, relu/gelu,
              batch_first, causal src_mask, src_key_padding_mask) and TransformerEncoder
              (2 layers + final norm, enable_nested_tensor=False so padded positions are not
              zeroed by 1.13's nested-tensor path), train mode with dropout 0 and eval mode.
    Each case stores the module's state_dict, the inputs, the output, a random upstream gradient
    gy and the gradients of sum(y * gy) for the inputs and every parameter.
  test/golden/transformer/encoder_state.safetensors + encoder_state.json: a 2-layer
    TransformerEncoder's state_dict written in the safetensors format (writer shared with
    safetensors_torch.py), a fixed input and the eval-mode output, to prove the keys load.
  test/golden/transformer/{encoder_layer,vit}_opset{13,17}.onnx + onnx_fixtures.json:
    torch.onnx.export of a post-norm GELU TransformerEncoderLayer and of a tiny ViT
    (bench/peers/vit_torch.py: dim 32, depth 2) with a fixed input and torch's eval output,
    and char_lm_opset17.onnx, a 1-layer CharTransformer (int64 tokens, Gather, Trilu),
    for the ONNX import tests (test/onnx/transformer-import.test.ts).
  test/golden/transformer/vit_state.safetensors + vit_state.json: a tiny ViT's state_dict (dim 16,
    depth 1), a fixed input and torch's eval logits, for the zoo model's key/weight check; also the
    state-dict keys of the CharTransformer twin.
Floats are stored with 9 significant digits (exact for float32).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_torch import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "transformer")
torch.manual_seed(181818)


def T(t):
    t = t.detach()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    vals = t.reshape(-1).tolist()
    if t.dtype.is_floating_point:
        vals = [float(f"{v:.9g}") for v in vals]
    return {"shape": list(t.shape), "data": vals}


def state(m):
    return {k: T(v) for k, v in m.state_dict().items()}


def param_grads(m):
    return {k: T(p.grad) for k, p in m.named_parameters() if p.grad is not None}


def ops_cases():
    out = {}
    x = (torch.randn(4, 6) * 2).requires_grad_(True)
    for approx in ["none", "tanh"]:
        x.grad = None
        y = F.gelu(x, approximate=approx)
        gy = torch.randn_like(y)
        (y * gy).sum().backward()
        out["gelu_" + approx] = {"x": T(x), "y": T(y), "gy": T(gy), "dx": T(x.grad)}
    for shape in [[6], [3, 4]]:
        x = (torch.randn(2, 5, *shape) * 3 + 1).requires_grad_(True)
        w = torch.randn(shape).requires_grad_(True)
        b = torch.randn(shape).requires_grad_(True)
        y = F.layer_norm(x, shape, w, b, 1e-5)
        gy = torch.randn_like(y)
        (y * gy).sum().backward()
        out["layer_norm_" + "x".join(map(str, shape))] = {
            "normalized_shape": shape, "x": T(x), "w": T(w), "b": T(b), "y": T(y), "gy": T(gy),
            "dx": T(x.grad), "dw": T(w.grad), "db": T(b.grad)}
    w = torch.randn(7, 5).requires_grad_(True)
    idx = torch.tensor([[0, 3, 3, 6], [2, 1, 3, 0]])
    y = F.embedding(idx, w, padding_idx=3)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    out["embedding"] = {"indices": T(idx), "padding_idx": 3, "weight": T(w), "y": T(y), "gy": T(gy), "dweight": T(w.grad)}
    out["sdpa"] = sdpa_cases()
    return out


def sdpa_reference(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """torch 2's scaled_dot_product_attention (math path), written from its documentation."""
    L, S = q.shape[-2], k.shape[-2]
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    bias = torch.zeros(L, S, dtype=q.dtype)
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
        bias = bias.masked_fill(keep.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            bias = bias + attn_mask
    w = torch.softmax(q @ k.transpose(-2, -1) * s + bias, dim=-1)
    return w @ v


def sdpa_cases():
    cases = []
    for kind in ["plain", "bool", "float", "causal", "scale"]:
        q = torch.randn(2, 2, 4, 8).requires_grad_(True)
        k = torch.randn(2, 2, 6, 8).requires_grad_(True)
        v = torch.randn(2, 2, 6, 3).requires_grad_(True)
        mask = None
        if kind == "bool":
            mask = torch.rand(4, 6) > 0.4
            mask[:, 0] = True  # every query keeps at least one key
        elif kind == "float":
            mask = torch.randn(4, 6)
        y = sdpa_reference(q, k, v, mask, kind == "causal", 0.3 if kind == "scale" else None)
        gy = torch.randn_like(y)
        (y * gy).sum().backward()
        c = {"kind": kind, "q": T(q), "k": T(k), "v": T(v), "y": T(y), "gy": T(gy),
             "dq": T(q.grad), "dk": T(k.grad), "dv": T(v.grad)}
        if mask is not None:
            c["mask"] = T(mask)
            c["mask_dtype"] = "bool" if mask.dtype == torch.bool else "float"
        if kind == "scale":
            c["scale"] = 0.3
        cases.append(c)
    return cases


def mha_case(name, E, H, N, L, S, batch_first, inputs, bias=True, attn_mask=None, kpm=None,
             need_weights=True, average=True, unbatched=False):
    m = nn.MultiheadAttention(E, H, bias=bias, batch_first=batch_first)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    m.train()

    def shape(n_len):
        if unbatched:
            return (n_len, E)
        return (N, n_len, E) if batch_first else (n_len, N, E)

    q = torch.randn(shape(L)).requires_grad_(True)
    if inputs == "self":
        k = v = q
    elif inputs == "kv":
        k = torch.randn(shape(S)).requires_grad_(True)
        v = k
    else:
        k = torch.randn(shape(S)).requires_grad_(True)
        v = torch.randn(shape(S)).requires_grad_(True)
    y, w = m(q, k, v, key_padding_mask=kpm, need_weights=need_weights, attn_mask=attn_mask,
             average_attn_weights=average)
    gy = torch.randn_like(y)
    loss = (y * gy).sum()
    if w is not None:
        gw = torch.randn_like(w)
        loss = loss + (w * gw).sum()
    loss.backward()
    c = {"name": name, "embed_dim": E, "num_heads": H, "batch_first": batch_first, "bias": bias,
         "inputs": inputs, "need_weights": need_weights, "average_attn_weights": average,
         "state": state(m), "query": T(q), "y": T(y), "gy": T(gy), "dquery": T(q.grad),
         "param_grads": param_grads(m)}
    if inputs != "self":
        c["key"] = T(k)
        c["dkey"] = T(k.grad)
    if inputs == "sep":
        c["value"] = T(v)
        c["dvalue"] = T(v.grad)
    if w is not None:
        c["weights"] = T(w)
        c["gw"] = T(gw)
    if attn_mask is not None:
        c["attn_mask"] = T(attn_mask)
        c["attn_mask_dtype"] = "bool" if attn_mask.dtype == torch.bool else "float"
    if kpm is not None:
        c["key_padding_mask"] = T(kpm)
    return c


def causal(L):
    return torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)  # True = not allowed


def mha_cases():
    kpm = torch.tensor([[False, False, False, True, True], [False] * 5, [False, True, False, False, True]])
    return [
        mha_case("self, seq-first, averaged weights", 8, 2, 3, 5, 5, False, "self"),
        mha_case("self, batch-first, causal bool mask + key padding, per-head weights", 8, 2, 3, 5, 5, True, "self",
                 attn_mask=causal(5), kpm=kpm, average=False),
        mha_case("shared key/value, float mask, no weights", 8, 4, 2, 3, 5, True, "kv",
                 attn_mask=torch.randn(3, 5), need_weights=False),
        mha_case("separate key and value, 3-D float mask, no bias", 6, 3, 2, 4, 3, False, "sep", bias=False,
                 attn_mask=torch.randn(2 * 3, 4, 3)),
        mha_case("unbatched self-attention", 8, 2, 1, 4, 4, False, "self", unbatched=True),
    ]


def encoder_layer_case(name, norm_first, activation, batch_first, train, mask=None, kpm=None):
    E, H, N, L = 8, 2, 3, 5
    m = nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.0, activation=activation,
                                   batch_first=batch_first, norm_first=norm_first)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    m.train(train)
    x = torch.randn((N, L, E) if batch_first else (L, N, E)).requires_grad_(True)
    y = m(x, src_mask=mask, src_key_padding_mask=kpm)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    c = {"name": name, "d_model": E, "nhead": H, "dim_feedforward": 16, "activation": activation,
         "norm_first": norm_first, "batch_first": batch_first, "train": train, "state": state(m),
         "x": T(x), "y": T(y), "gy": T(gy), "dx": T(x.grad), "param_grads": param_grads(m)}
    if mask is not None:
        c["src_mask"] = T(mask)
    if kpm is not None:
        c["src_key_padding_mask"] = T(kpm)
    return c


def encoder_cases():
    kpm = torch.tensor([[False, False, False, True, True], [False] * 5, [False, False, False, False, True]])
    layers = [
        encoder_layer_case("post-norm relu seq-first train", False, "relu", False, True),
        encoder_layer_case("pre-norm gelu batch-first train, causal mask + padding", True, "gelu", True, True, causal(5), kpm),
        encoder_layer_case("post-norm gelu batch-first eval, padding", False, "gelu", True, False, None, kpm),
        encoder_layer_case("pre-norm relu seq-first eval, causal", True, "relu", False, False, causal(5)),
    ]
    E = 8
    layer = nn.TransformerEncoderLayer(E, 2, dim_feedforward=16, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E), enable_nested_tensor=False)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    enc.train()
    x = torch.randn(3, 5, E).requires_grad_(True)
    y = enc(x, mask=causal(5), src_key_padding_mask=kpm)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    encoder = {"name": "2 pre-norm gelu layers + final norm, causal + padding", "d_model": E, "nhead": 2,
               "dim_feedforward": 16, "num_layers": 2, "state": state(enc), "src_mask": T(causal(5)),
               "src_key_padding_mask": T(kpm), "x": T(x), "y": T(y), "gy": T(gy), "dx": T(x.grad),
               "param_grads": param_grads(enc)}
    return layers, encoder


def encoder_safetensors():
    E = 16
    layer = nn.TransformerEncoderLayer(E, 4, dim_feedforward=32, dropout=0.1, activation="relu")
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E), enable_nested_tensor=False)
    enc.eval()
    x = torch.randn(6, 2, E)
    with torch.no_grad():
        y = enc(x)
    sd = enc.state_dict()
    write_safetensors(os.path.join(OUT, "encoder_state.safetensors"), dict(sd), {"format": "pt", "source": "transformer_layers.py"})
    meta = {"torch": torch.__version__, "keys": list(sd.keys()), "d_model": E, "nhead": 4, "dim_feedforward": 32,
            "num_layers": 2, "x": T(x), "y": T(y)}
    with open(os.path.join(OUT, "encoder_state.json"), "w") as f:
        json.dump(meta, f, separators=(",", ":"))


def vit_safetensors():
    """A tiny ViT (bench/peers/vit_torch.py) state_dict through safetensors, with torch's eval logits."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "peers"))
    from vit_torch import CharTransformer, ViT  # noqa: E402
    torch.manual_seed(31415)
    opts = {"image_size": 28, "patch_size": 7, "in_channels": 1, "dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32, "num_classes": 10}
    vit = ViT(**opts).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        y = vit(x)
    write_safetensors(os.path.join(OUT, "vit_state.safetensors"), dict(vit.state_dict()), {"format": "pt", "source": "transformer_layers.py"})
    with open(os.path.join(OUT, "vit_state.json"), "w") as f:
        json.dump({"torch": torch.__version__, "options": opts, "keys": list(vit.state_dict().keys()), "x": T(x), "y": T(y),
                   "char_keys": list(CharTransformer(50, 16, dim=16, depth=2, heads=2).state_dict().keys())}, f, separators=(",", ":"))


def main():
    os.makedirs(OUT, exist_ok=True)
    layers, encoder = encoder_cases()
    doc = {"torch": torch.__version__, "ops": ops_cases(), "mha": mha_cases(), "encoder_layer": layers, "encoder": encoder}
    with open(os.path.join(OUT, "layers.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    encoder_safetensors()
    onnx_fixtures()
    vit_safetensors()
    print("wrote", OUT)



def onnx_fixtures():
    """torch.onnx.export of a TransformerEncoderLayer and of a tiny ViT (bench/peers/vit_torch.py),
    opsets 13 and 17, for the import tests; with a fixed input and torch's eval output."""
    import io
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "peers"))
    from vit_torch import ViT  # noqa: E402
    torch.manual_seed(2718)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, activation="gelu", batch_first=True, norm_first=False)
    vit = ViT(image_size=28, patch_size=7, in_channels=1, dim=32, depth=2, heads=4, mlp_dim=64, num_classes=10)
    with torch.no_grad():
        for p in list(layer.parameters()) + list(vit.parameters()):
            p.add_(torch.randn_like(p) * 0.05)
    meta = {"torch": torch.__version__, "models": {}}
    for name, model, x in [("encoder_layer", layer, torch.randn(2, 6, 16)), ("vit", vit, torch.randn(2, 1, 28, 28))]:
        model.eval()
        with torch.no_grad():
            y = model(x)
        for opset in [13, 17]:
            buf = io.BytesIO()
            torch.onnx.export(model, (x,), buf, opset_version=opset, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, do_constant_folding=True,
                              training=torch.onnx.TrainingMode.EVAL)
            fname = f"{name}_opset{opset}.onnx"
            with open(os.path.join(OUT, fname), "wb") as f:
                f.write(buf.getvalue())
        meta["models"][name] = {"x": T(x), "y": T(y), "state_keys": list(model.state_dict().keys())}
    # a character LM: int64 token input, Embedding → Gather, the causal mask → Trilu (opset ≥ 14)
    from vit_torch import CharTransformer  # noqa: E402
    torch.manual_seed(1414)
    lm = CharTransformer(40, 12, dim=16, depth=1, heads=2).eval()
    x = torch.randint(0, 40, (2, 12))
    with torch.no_grad():
        y = lm(x)
    buf = io.BytesIO()
    torch.onnx.export(lm, (x,), buf, opset_version=17, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, training=torch.onnx.TrainingMode.EVAL)
    with open(os.path.join(OUT, "char_lm_opset17.onnx"), "wb") as f:
        f.write(buf.getvalue())
    meta["models"]["char_lm"] = {"x": T(x), "y": T(y), "state_keys": list(lm.state_dict().keys())}
    with open(os.path.join(OUT, "onnx_fixtures.json"), "w") as f:
        json.dump(meta, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
