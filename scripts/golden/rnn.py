#!/usr/bin/env python3
"""Golden values for nn.LSTM / nn.GRU and the ONNX models of issue #14 part 2.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/rnn.py
Writes test/golden/rnn/ (read by test/nn/rnn.test.ts and test/onnx/rnn-import.test.ts,
if-fold.test.ts, tf-example; tests never run Python):
  - rnn.json: LSTM / GRU cases (layers, bidirectional, batch_first, bias off, unbatched,
    given or zero initial state): parameters under PyTorch's state-dict keys, input, initial
    state, outputs (y, h_n, c_n), and gradients of sum(y*gy) + sum(h_n*gh) (+ sum(c_n*gc))
    with respect to the input, the initial state and every parameter.
  - lstm.onnx / gru.onnx: torch.onnx.export (opset 14) of a bidirectional 2-layer LSTM and a
    batch_first GRU, each followed by a Linear head; onnx_models.json holds an input and
    PyTorch's output for each.
  - if_const.onnx: an MLP head whose branch is an If on a constant condition (folded at
    import); if_dynamic.onnx: an If on a condition computed from the input (refused).
  - tf_style.onnx: a small CNN with TensorFlow-export idioms (NHWC input transposed to NCHW,
    Conv with asymmetric pads, LeakyRelu, elementwise Max with a constant, transposed back and
    reshaped), built with onnx.helper, weights seeded; its expected output from onnx's
    reference evaluation is not available in 1.12, so the test compares with onnxruntime.
Tensors are {"shape": [...], "data": [flat float32 values]}.
"""
import io
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "golden", "rnn")
torch.manual_seed(1313)


def T(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def rnn_case(name, kind, input_size, hidden, opts, seq, batch, given_state):
    cls = nn.LSTM if kind == "LSTM" else nn.GRU
    m = cls(input_size, hidden, **opts)
    dirs = 2 if opts.get("bidirectional") else 1
    layers = opts.get("num_layers", 1)
    bf = opts.get("batch_first", False)
    unbatched = batch is None
    if unbatched:
        x = torch.randn(seq, input_size)
        sshape = (layers * dirs, hidden)
    else:
        x = torch.randn(batch, seq, input_size) if bf else torch.randn(seq, batch, input_size)
        sshape = (layers * dirs, batch, hidden)
    x.requires_grad_(True)
    h0 = torch.randn(sshape).requires_grad_(True) if given_state else None
    c0 = torch.randn(sshape).requires_grad_(True) if given_state and kind == "LSTM" else None
    if kind == "LSTM":
        y, (hn, cn) = m(x, (h0, c0)) if given_state else m(x)
    else:
        y, hn = m(x, h0) if given_state else m(x)
        cn = None
    gy, gh = torch.randn_like(y), torch.randn_like(hn)
    loss = (y * gy).sum() + (hn * gh).sum()
    gc = None
    if cn is not None:
        gc = torch.randn_like(cn)
        loss = loss + (cn * gc).sum()
    loss.backward()
    case = {"name": name, "kind": kind, "inputSize": input_size, "hiddenSize": hidden,
            "options": {"numLayers": layers, "bias": opts.get("bias", True), "batchFirst": bf,
                        "bidirectional": opts.get("bidirectional", False)},
            "keys": list(m.state_dict().keys()),
            "params": {k: T(v) for k, v in m.named_parameters()},
            "grads": {k: T(v.grad) for k, v in m.named_parameters()},
            "x": T(x), "dx": T(x.grad), "y": T(y), "hn": T(hn), "gy": T(gy), "gh": T(gh)}
    if given_state:
        case["h0"], case["dh0"] = T(h0), T(h0.grad)
    if cn is not None:
        case["cn"], case["gc"] = T(cn), T(gc)
        if given_state:
            case["c0"], case["dc0"] = T(c0), T(c0.grad)
    return case


class Head(nn.Module):
    def __init__(self, rnn, hidden_out):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden_out, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


def export(model, x, path):
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, opset_version=14, input_names=["x"], output_names=["y"])
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    with torch.no_grad():
        return T(model(x))


def if_models():
    """An MLP head with an If on a constant, and one with an If on the data."""
    rng = np.random.default_rng(7)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 6)).astype(np.float32), "fc1.weight")
    b1 = numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "fc1.bias")
    w2 = numpy_helper.from_array(rng.standard_normal((6, 2)).astype(np.float32), "fc2.weight")

    def branches(src):
        then_g = helper.make_graph([helper.make_node("Relu", [src], ["then_out"])], "then",
                                   [], [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)])
        else_g = helper.make_graph([helper.make_node("Sigmoid", [src], ["else_out"])], "else",
                                   [], [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, None)])
        return then_g, else_g

    models = {}
    for name, cond_nodes, inits in [
        ("if_const", [helper.make_node("Constant", [], ["flag"], value=numpy_helper.from_array(np.array(False), "v")),
                      helper.make_node("Not", ["flag"], ["cond"])], []),
        ("if_shape", [helper.make_node("Shape", ["x"], ["shp"]),
                      helper.make_node("Gather", ["shp", "one"], ["feat"], axis=0),
                      helper.make_node("Equal", ["feat", "four"], ["cond"])],
         [numpy_helper.from_array(np.array(1, dtype=np.int64), "one"), numpy_helper.from_array(np.array(4, dtype=np.int64), "four")]),
        ("if_dynamic", [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                        helper.make_node("Greater", ["s", "zero"], ["cond"])],
         [numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")]),
    ]:
        then_g, else_g = branches("h")
        nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"])] + cond_nodes + [
            helper.make_node("If", ["cond"], ["a"], then_branch=then_g, else_branch=else_g, name="branch"),
            helper.make_node("MatMul", ["a", "fc2.weight"], ["y"])]
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [w1, b1, w2] + inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(m)
        models[name] = m
    return models


def tf_style_model():
    """A TensorFlow-export-shaped CNN: NHWC in, Transpose, Conv with asymmetric (SAME, stride 2)
    pads, LeakyRelu, Max with a constant, GlobalAveragePool, Reshape, Gemm."""
    rng = np.random.default_rng(11)
    inits = [
        numpy_helper.from_array((0.3 * rng.standard_normal((8, 1, 3, 3))).astype(np.float32), "conv1/kernel"),
        numpy_helper.from_array((0.1 * rng.standard_normal(8)).astype(np.float32), "conv1/bias"),
        numpy_helper.from_array((0.2 * rng.standard_normal((16, 8, 3, 3))).astype(np.float32), "conv2/kernel"),
        numpy_helper.from_array((0.1 * rng.standard_normal(16)).astype(np.float32), "conv2/bias"),
        numpy_helper.from_array(np.array(-0.05, dtype=np.float32), "floor"),
        numpy_helper.from_array((0.3 * rng.standard_normal((10, 16))).astype(np.float32), "dense/kernel"),
        numpy_helper.from_array((0.1 * rng.standard_normal(10)).astype(np.float32), "dense/bias"),
        numpy_helper.from_array(np.array([-1, 16], dtype=np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("Transpose", ["input_1"], ["nchw"], perm=[0, 3, 1, 2], name="nhwc_to_nchw"),
        helper.make_node("Conv", ["nchw", "conv1/kernel", "conv1/bias"], ["c1"], pads=[0, 0, 1, 1], strides=[2, 2], name="conv1"),
        helper.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.2, name="leaky1"),
        helper.make_node("Conv", ["a1", "conv2/kernel", "conv2/bias"], ["c2"], auto_pad="SAME_UPPER", strides=[2, 2], name="conv2"),
        helper.make_node("LeakyRelu", ["c2"], ["a2"], alpha=0.2, name="leaky2"),
        helper.make_node("Max", ["a2", "floor"], ["m2"], name="max_floor"),
        helper.make_node("Transpose", ["m2"], ["nhwc"], perm=[0, 2, 3, 1], name="nchw_to_nhwc"),
        helper.make_node("ReduceMean", ["nhwc"], ["pooled"], axes=[1, 2], keepdims=1, name="global_pool"),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "dense/kernel", "dense/bias"], ["logits"], transB=1, name="dense"),
    ]
    g = helper.make_graph(nodes, "tf_style_cnn", [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__0", 28, 28, 1])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["unk__0", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf2onnx-style (handwritten)")
    onnx.checker.check_model(m)
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [
        rnn_case("lstm_basic", "LSTM", 5, 4, {}, 3, 2, True),
        rnn_case("lstm_zero_state", "LSTM", 3, 4, {}, 4, 2, False),
        rnn_case("lstm_2layer_bidir_batch_first", "LSTM", 3, 4, {"num_layers": 2, "bidirectional": True, "batch_first": True}, 4, 2, True),
        rnn_case("lstm_unbatched_nobias", "LSTM", 3, 2, {"bias": False}, 3, None, True),
        rnn_case("gru_basic", "GRU", 5, 4, {}, 3, 2, True),
        rnn_case("gru_2layer_bidir_batch_first_nobias", "GRU", 3, 4, {"num_layers": 2, "bidirectional": True, "batch_first": True, "bias": False}, 4, 2, True),
        rnn_case("gru_unbatched_zero_state", "GRU", 2, 3, {}, 5, None, False),
    ]
    onnx_models = {}
    lstm = Head(nn.LSTM(3, 4, num_layers=2, bidirectional=True), 8)
    x = torch.randn(5, 2, 3)
    onnx_models["lstm"] = {"x": T(x), "y": export(lstm, x, os.path.join(OUT, "lstm.onnx"))}
    gru = Head(nn.GRU(3, 5, batch_first=True), 5)
    x = torch.randn(2, 6, 3)
    onnx_models["gru"] = {"x": T(x), "y": export(gru, x, os.path.join(OUT, "gru.onnx"))}
    for name, m in if_models().items():
        onnx.save(m, os.path.join(OUT, f"{name}.onnx"))
    onnx.save(tf_style_model(), os.path.join(OUT, "tf_style.onnx"))
    with open(os.path.join(OUT, "rnn.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
    with open(os.path.join(OUT, "onnx_models.json"), "w") as f:
        json.dump({"torch": torch.__version__, **onnx_models}, f)
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
