#!/usr/bin/env python3
"""A PyTorch-written SmallCNN checkpoint for the safetensors interop test.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/safetensors_torch.py
Writes
  test/golden/nn/torch_state.safetensors      state_dict of the SmallCNN twin (nn_models.py)
                                              after 3 training steps, so BN running stats are
                                              non-trivial and num_batches_tracked = 3 (int64)
  test/golden/nn/torch_state.json             torch version, per-key dtype / shape / sum /
                                              first values, a fixed input and the eval-mode
                                              logits for it
  test/golden/nn/torch_state_lib.safetensors  the same state written by the `safetensors`
                                              library, only when that package is importable

Debian ships no python3-safetensors, so torch_state.safetensors is written BY HAND here from
the format specification (8-byte little-endian header length, JSON header
{name: {dtype, shape, data_offsets}} with "__metadata__", then the raw little-endian
bytes of each tensor, contiguous), taking the bytes from the torch tensors themselves. When
the library is available (e.g. `pip install --target DIR safetensors` and PYTHONPATH=DIR), the
script also checks that it reads the hand-written file back identically and writes the
library's own file as a second fixture.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from nn_models import SmallCNN  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "nn")
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8"}


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def trained_model():
    torch.manual_seed(7)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(3):
        x = torch.randn(8, 1, 28, 28)
        y = torch.randint(0, 10, (8,))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def main():
    model = trained_model()
    sd = model.state_dict()
    metadata = {"format": "pt", "source": "scripts/golden/safetensors_torch.py", "torch_version": torch.__version__}
    path = os.path.join(HERE, "torch_state.safetensors")
    write_safetensors(path, sd, metadata)
    torch.manual_seed(99)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
    info = {
        "torch_version": torch.__version__,
        "metadata": metadata,
        "keys": list(sd.keys()),
        "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape), "sum": float(v.double().sum()),
                        "first": [float(a) for a in v.reshape(-1)[:4].tolist()]} for k, v in sd.items()},
        "input": {"shape": list(x.shape), "data": x.reshape(-1).tolist()},
        "logits": {"shape": list(logits.shape), "data": logits.reshape(-1).tolist()},
    }
    with open(os.path.join(HERE, "torch_state.json"), "w") as f:
        json.dump(info, f)
    print(f"wrote {path} (torch {torch.__version__})")
    try:
        from safetensors.torch import load_file, save_file
    except ImportError:
        print("safetensors package not importable: skipped the library cross-check")
        return
    back = load_file(path)
    assert list(sorted(back)) == list(sorted(sd)), "library reads different keys"
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), f"library reads {k} differently"
    lib_path = os.path.join(HERE, "torch_state_lib.safetensors")
    save_file(dict(sd), lib_path, metadata=metadata)
    print(f"library cross-check passed; wrote {lib_path}")


if __name__ == "__main__":
    main()
