"""PyTorch 1.13's torch.ao.quantization.quantize_dynamic on the identical ViT: the peer of the
"dynamic" rows of bench/RESULTS.md "Transformers" (driven by bench/experiments/vit-dynamic-peer.ts).

The float weights are the qat-ts checkpoint (safetensors, the zoo's state-dict keys =
bench/peers/vit_torch.py's), read here by hand (Debian ships no python3-safetensors); the test
set is Fashion-MNIST's t10k files normalized as qat-ts does ((v/255 − 0.286) / 0.353).
quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8) under the onednn engine (Debian's torch
has no FBGEMM): it swaps modules whose type is exactly nn.Linear — the MLP's linear1 / linear2
and the head. MultiheadAttention's out_proj (NonDynamicallyQuantizableLinear) and its packed
in_proj_weight (a parameter, not a module) stay float, as in every PyTorch 1.13 transformer.

  /usr/bin/python3 bench/peers/vit_dynamic_torch.py accuracy CKPT DATA_DIR
      → one JSON line {torch, engine, float, per_tensor, per_channel, quantized, float_linears}
  /usr/bin/python3 bench/peers/vit_dynamic_torch.py serve CKPT
      → reads lines {batch, min_time, qconfig} and answers {seconds, cpu} (median wall and
        process-CPU seconds of one forward on one thread over ≥ min_time s and ≥ 5 calls, after
        a warm-up)
"""
import gzip
import json
import os
import statistics
import struct
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_torch import ViT  # noqa: E402

torch.backends.quantized.engine = "onednn"
torch.set_num_threads(1)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {k} is {v['dtype']}, expected F32")
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).copy().reshape(v["shape"]))
    return out


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def float_model(ckpt):
    m = ViT()
    m.load_state_dict(read_safetensors(ckpt), strict=True)
    return m.eval()


def dynamic(model, qconfig):
    q = quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8)
    # torch 1.13's eval fast-path check of TransformerEncoderLayer reads linear1.weight as a tensor, which a
    # dynamically quantized Linear does not have (AttributeError); this flag only routes the layer to its
    # ordinary Python forward (the same computation, with the quantized linears)
    for layer in q.encoder.layers:
        layer.activation_relu_or_gelu = False
    return q


QCONFIGS = {"per_tensor": default_dynamic_qconfig, "per_channel": per_channel_dynamic_qconfig}


def accuracy(model, x, y):
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], 500):
            correct += int((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum())
    return correct / x.shape[0]


def main_accuracy(ckpt, data):
    images = read_idx(os.path.join(data, "t10k-images-idx3-ubyte.gz")).astype(np.float32)
    x = torch.from_numpy(((images / np.float32(255) - np.float32(0.286)) / np.float32(0.353)).astype(np.float32)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(read_idx(os.path.join(data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
    fm = float_model(ckpt)
    out = {"torch": torch.__version__, "engine": torch.backends.quantized.engine, "float": accuracy(fm, x, y)}
    for name, qc in QCONFIGS.items():
        q = dynamic(float_model(ckpt), qc)
        out[name] = accuracy(q, x, y)
        out["quantized"] = [n for n, mod in q.named_modules() if type(mod).__name__ == "Linear" and type(mod).__module__.startswith("torch.ao.nn.quantized")]
        out["float_linears"] = [n for n, mod in q.named_modules() if isinstance(mod, nn.Linear)]
    print(json.dumps(out), flush=True)


def main_serve(ckpt):
    models = {name: dynamic(float_model(ckpt), qc) for name, qc in QCONFIGS.items()}
    g = torch.Generator().manual_seed(0)
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        model = models[req.get("qconfig", "per_tensor")]
        x = torch.randn(int(req["batch"]), 1, 28, 28, generator=g)

        def run():
            with torch.no_grad():
                model(x)
        run()
        times, cpu, start = [], [], time.perf_counter()
        while len(times) < 5 or time.perf_counter() - start < float(req["min_time"]):
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(json.dumps({"seconds": statistics.median(times), "cpu": statistics.median(cpu)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "accuracy":
        main_accuracy(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "serve":
        main_serve(sys.argv[2])
    else:
        raise SystemExit(f"usage: {sys.argv[0]} accuracy CKPT DATA_DIR | serve CKPT")
