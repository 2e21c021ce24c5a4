"""Runs the exported model on a batch (written by qat-ts exportTorch; used by the parity tests).

    python3 predict.py --input x.safetensors --out y.safetensors [--weights checkpoint.safetensors] [--train] [--state-out s.safetensors]

Reads tensor "x", writes tensor "y" (the fake-quantized model's output), in eval mode unless
--train; observers update as qat-ts's do (pass --no-observe to pause them). --state-out writes
the model state after the forward.
"""
import argparse
import json
import os

import torch

import qat_runtime as rt
from model import QatModel

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--weights", default=os.path.join(HERE, "weights.safetensors"))
    p.add_argument("--train", action="store_true")
    p.add_argument("--no-observe", action="store_true")
    p.add_argument("--state-out")
    a = p.parse_args()
    torch.set_num_threads(1)
    model = QatModel()
    tensors, meta = rt.load_safetensors(a.weights)
    rt.load_state(model, {k: v for k, v in tensors.items() if not k.startswith("optim.")})
    info = json.loads(meta["qat_torch"]) if "qat_torch" in meta else None
    for path in (info or {}).get("frozenBn", []):
        model.get_submodule(path).freeze_bn_stats()
    model.train(a.train)
    if a.no_observe:
        for q in rt.quantizers(model):
            q.enable_observer(False)
    x = rt.load_safetensors(a.input)[0]["x"]
    with torch.no_grad():
        y = model(x)
    rt.save_safetensors(a.out, {"y": y})
    if a.state_out:
        rt.save_safetensors(a.state_out, rt.state_tensors(model))


if __name__ == "__main__":
    main()
