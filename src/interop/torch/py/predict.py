"""Runs the exported model on a batch (written by qat-ts exportTorch; used by the parity tests).

    python3 predict.py --input x.safetensors --out y.safetensors [--weights checkpoint.safetensors] [--train] [--no-observe] [--state-out s.safetensors]
    python3 predict.py --input x.safetensors --modes frozen,eval,train --out-dir results/

Reads tensor "x", writes tensor "y" (the fake-quantized model's output), in eval mode unless
--train; observers update as qat-ts's do (--no-observe pauses them). --state-out writes the
model state after the forward. --modes runs several fresh copies (frozen = eval with observers
paused) and writes y_<mode>.safetensors and state_<mode>.safetensors into --out-dir.
"""
import argparse
import json
import os

import torch

import qat_runtime as rt
from model import QatModel

HERE = os.path.dirname(os.path.abspath(__file__))


def run(weights, x, train, observe):
    model = QatModel()
    tensors, meta = rt.load_safetensors(weights)
    rt.load_state(model, {k: v for k, v in tensors.items() if not k.startswith("optim.")})
    info = json.loads(meta["qat_torch"]) if "qat_torch" in meta else None
    for path in (info or {}).get("frozenBn", []):
        model.get_submodule(path).freeze_bn_stats()
    model.train(train)
    if not observe:
        for q in rt.quantizers(model):
            q.enable_observer(False)
    with torch.no_grad():
        y = model(x)
    return y, rt.state_tensors(model)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--input", required=True)
    p.add_argument("--out")
    p.add_argument("--weights", default=os.path.join(HERE, "weights.safetensors"))
    p.add_argument("--train", action="store_true")
    p.add_argument("--no-observe", action="store_true")
    p.add_argument("--state-out")
    p.add_argument("--modes", help="comma-separated: frozen, eval, train")
    p.add_argument("--out-dir")
    a = p.parse_args()
    torch.set_num_threads(1)
    x = rt.load_safetensors(a.input)[0]["x"]
    if a.modes:
        os.makedirs(a.out_dir or ".", exist_ok=True)
        for mode in a.modes.split(","):
            if mode not in ("frozen", "eval", "train"):
                raise SystemExit(f"predict.py: unknown mode '{mode}' (frozen, eval, train)")
            y, state = run(a.weights, x, mode == "train", mode != "frozen")
            rt.save_safetensors(os.path.join(a.out_dir or ".", f"y_{mode}.safetensors"), {"y": y})
            rt.save_safetensors(os.path.join(a.out_dir or ".", f"state_{mode}.safetensors"), state)
        return
    if not a.out:
        raise SystemExit("predict.py: --out (or --modes with --out-dir) is required")
    y, state = run(a.weights, x, a.train, not a.no_observe)
    rt.save_safetensors(a.out, {"y": y})
    if a.state_out:
        rt.save_safetensors(a.state_out, state)


if __name__ == "__main__":
    main()
