"""ONNX backend node conformance cases for the ops qat-ts claims, as one compact bundle.

Run with Debian's python3-onnx 1.12 (`/usr/bin/python3 scripts/onnx-conformance/generate.py`):
collects onnx.backend.test.case.node's test cases (the same cases `python3 -m
onnx.backend.test.cmd_tools generate-data` writes; NumPy 1.24 lost the aliases np.float,
np.int, np.bool, np.object, ... that those case files use, so they are restored first), keeps
the cases whose single node is one of OPS (function-expanded `*_expanded` variants excluded:
they test other ops' composition), and rewrites each model so that every graph input after the
first is an initializer holding its test value -- the shape of an imported trainable model.
Writes test/onnx/conformance/cases.json.gz: per case the name, op, opset, tolerances, the
rewritten model, the first input and the expected outputs (tensors as dtype, shape and
little-endian raw bytes in base64). Read by test/onnx/conformance.test.ts.
"""
import base64
import gzip
import json
import os
import sys

import numpy as np

for alias, real in (("float", float), ("int", int), ("bool", bool), ("object", object), ("long", int),
                    ("complex", complex), ("str", str), ("unicode", str)):
    if alias not in np.__dict__:
        setattr(np, alias, real)

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
import onnx.backend.test.case.node as node_test  # noqa: E402

# The op set of vision, speech and transformer models (issue #14), plus the RNNs and If.
OPS = sorted("""
Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Constant
ConstantOfShape Conv ConvTranspose Div Dropout Elu Equal Erf Exp Expand Flatten Floor Gather
Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual GRU HardSigmoid HardSwish Identity
If InstanceNormalization LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax LSTM
MatMul Max MaxPool Mean Min Mul Neg Not Or Pad Pow PRelu Range Reciprocal ReduceL1 ReduceL2
ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceSum ReduceSumSquare Relu Reshape Resize
Round Selu Shape Sigmoid Sign Slice Softmax Softplus Softsign Split Sqrt Squeeze Sub Sum Tanh
Tile Transpose Unsqueeze Where Xor
""".split())

DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.int64): "int64",
          np.dtype(np.int32): "int32", np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8",
          np.dtype(np.bool_): "bool", np.dtype(np.float16): "float16", np.dtype(np.int16): "int16",
          np.dtype(np.uint16): "uint16", np.dtype(np.uint32): "uint32", np.dtype(np.uint64): "uint64"}


def tensor(arr, name):
    a = np.asarray(arr)
    kind = DTYPES.get(a.dtype)
    if kind is None:
        return None
    return {"name": name, "dtype": kind, "shape": list(a.shape),
            "data": base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def bake(model, inputs):
    """Graph inputs after the first become initializers with their test values."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    keep = list(g.input[:1])
    for vi, arr in zip(list(g.input[1:]), inputs[1:]):
        g.initializer.append(numpy_helper.from_array(np.asarray(arr), vi.name))
    del g.input[:]
    g.input.extend(keep)
    return m


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "onnx", "conformance", "cases.json.gz"))
    cases = node_test.collect_testcases(None)
    bundle, skipped = [], []
    for case in cases:
        if case.name.endswith("_expanded"):
            continue
        nodes = case.model.graph.node
        if len(nodes) != 1 or nodes[0].op_type not in OPS or nodes[0].domain not in ("", "ai.onnx"):
            continue
        inputs, outputs = case.data_sets[0]
        first = tensor(inputs[0], case.model.graph.input[0].name) if len(inputs) > 0 else None
        outs = [tensor(o, vi.name) for o, vi in zip(outputs, case.model.graph.output)]
        if (len(inputs) > 0 and first is None) or any(o is None for o in outs):
            skipped.append(case.name)
            continue
        opset = next(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))
        bundle.append({"name": case.name, "op": nodes[0].op_type, "opset": opset, "rtol": case.rtol, "atol": case.atol,
                       "model": base64.b64encode(bake(case.model, inputs).SerializeToString()).decode(),
                       "input": first, "outputs": outs})
    bundle.sort(key=lambda c: c["name"])
    seen = {}
    for c in bundle:  # onnx 1.12 names two tf_crop_and_resize cases alike
        seen[c["name"]] = seen.get(c["name"], 0) + 1
        if seen[c["name"]] > 1:
            c["name"] += f"_{seen[c['name']]}"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        f.write(json.dumps({"onnx": onnx.__version__, "ops": OPS, "cases": bundle}, separators=(",", ":")).encode())
    os.replace(tmp, out)
    print(f"{len(bundle)} cases over {len({c['op'] for c in bundle})} ops -> {out} ({os.path.getsize(out)} bytes); skipped (dtype): {skipped}")


if __name__ == "__main__":
    main()
