"""safetensors read / write for an exported qat-ts model, without the safetensors package
(written by qat-ts `exportTorch`; do not edit). Writes are atomic: a temporary file in the same
directory, then os.replace. Used through qat_runtime (rt.load_safetensors, rt.save_safetensors).
"""
import json
import os
import struct

import torch


_DT = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "BOOL": torch.bool}
_NAME = {v: k for k, v in _DT.items()}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    out = {}
    for key, h in header.items():
        if h["dtype"] not in _DT:
            raise ValueError(f"{path}: tensor '{key}' has unsupported dtype {h['dtype']}")
        a, b = h["data_offsets"]
        dt = _DT[h["dtype"]]
        if b == a:
            out[key] = torch.zeros(h["shape"], dtype=dt)
        else:
            out[key] = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=dt).reshape(h["shape"]).clone()
    return out, meta


def save_safetensors(path, tensors, meta=None):
    """Writes atomically: a temporary file in the same directory, then os.replace."""
    header, blobs, off = {}, [], 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous().cpu()
        raw = t.numpy().tobytes() if t.numel() else b""
        header[key] = {"dtype": _NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
