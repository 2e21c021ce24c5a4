"""QAT fine-tuning of the exported model with DistributedDataParallel (written by qat-ts exportTorch).

    torchrun --nproc_per_node 2 train_ddp.py --data /usr/share/datasets/fashion-mnist --steps 300
    python3 train_ddp.py --nproc 2 --data /usr/share/datasets/fashion-mnist --steps 300   # starts the ranks itself
    python3 train_ddp.py --data data --steps 300          # one process

gloo on CPU, NCCL when CUDA is present. Each rank reads its share of the training set
(DistributedSampler); gradients are averaged by DDP; BN uses cross-rank batch statistics and
every observer all-reduces its batch min/max before its moving-average update (qat_runtime.py),
so all ranks hold the same model. --batch-size is per rank; the learning rate is the recipe's
scaled linearly with the global batch (--no-scale-lr keeps it). The schedule of recipe.json
(step counts) runs on the global step. A checkpoint is written atomically (tmp + os.replace)
after every epoch and at the end: checkpoint.safetensors (model state + optimizer momentum,
metadata: step, epoch, frozen BN); --resume continues from it. `qat import-torch` reads it back.
"""
import argparse
import gzip
import json
import os
import socket
import struct
import subprocess
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import qat_runtime as rt
from model import QatModel

HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(folder, base):
    for name in (base, base + ".gz", base.replace("-idx", ".idx"), base.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
                data = f.read()
            magic, = struct.unpack(">I", data[:4])
            if magic >> 8 != 8:
                raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
            ndim = magic & 0xFF
            shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
            return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(shape)
    raise FileNotFoundError(f"no {base} file in {folder}")


def dataset(folder, split, mean, std, limit=0):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels = read_idx(folder, f"{prefix}-labels-idx1-ubyte").long()
    if limit:
        images, labels = images[:limit], labels[:limit]
    # qat-ts's ImageDataset: a float32 table of (p / 255 - mean) / std, computed in float64
    lut = ((torch.arange(256, dtype=torch.float64) / 255 - mean) / std).float()
    return TensorDataset(lut[images.long()].unsqueeze(1), labels)


def evaluate(model, data):
    """Accuracy with observers paused (eval forwards would otherwise update them, as in PyTorch)."""
    saved = [(q, int(q.observer_enabled[0])) for q in rt.quantizers(model)]
    for q, _ in saved:
        q.enable_observer(False)
    model.eval()
    correct = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for x, y in DataLoader(data, batch_size=500):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
    for q, on in saved:
        q.enable_observer(bool(on))
    model.train()
    return correct / len(data)


def launch(n):
    """What torchrun does on one machine: n copies of this script with RANK, WORLD_SIZE, LOCAL_RANK
    and a free MASTER_PORT; exits with the first failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(n), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    procs = [subprocess.Popen([sys.executable] + sys.argv, env=dict(base, RANK=str(r), LOCAL_RANK=str(r))) for r in range(n)]
    codes = [p.wait() for p in procs]
    bad = [c for c in codes if c != 0]
    if bad:
        raise SystemExit(f"train_ddp.py: a rank failed (exit codes {codes})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder with the Fashion-MNIST IDX files (raw or .gz)")
    p.add_argument("--steps", type=int, default=0, help="stop at this global step (default: --epochs)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=0, help="per rank (default: the recipe's / ranks)")
    p.add_argument("--lr", type=float, default=0.0, help="learning rate (default: the recipe's, scaled with the global batch)")
    p.add_argument("--no-scale-lr", action="store_true")
    p.add_argument("--out", default=HERE, help="folder for checkpoint.safetensors (default: this project)")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.safetensors")
    p.add_argument("--subset", type=int, default=0, help="first n training (n/2 test) images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-sync-observers", action="store_true", help="keep each rank's observer statistics local (for comparison)")
    p.add_argument("--no-shuffle", action="store_true", help="read the training set in order (rank r takes images r, r+N, ...: the global batch is one process's)")
    p.add_argument("--dump-rank-states", action="store_true", help="each rank writes rank<r>.safetensors at the end (tests)")
    p.add_argument("--nproc", type=int, default=1, help="start this many ranks on this machine (instead of torchrun)")
    a = p.parse_args()
    if a.nproc > 1 and "RANK" not in os.environ:
        return launch(a.nproc)

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(HERE, "recipe.json")) as f:
        recipe = json.load(f)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if torch.cuda.is_available() else torch.device("cpu")
    rt.SYNC["observers"] = not a.no_sync_observers
    torch.manual_seed(a.seed)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))

    tr = recipe["train"]
    batch = a.batch_size or max(1, tr["batchSize"] // world)
    lr = a.lr or tr["lr"] * (1.0 if a.no_scale_lr else batch * world / tr["batchSize"])
    model = QatModel()
    ckpt_path = os.path.join(a.out, "checkpoint.safetensors")
    tensors, meta = rt.load_safetensors(ckpt_path if a.resume else os.path.join(HERE, "weights.safetensors"))
    state = json.loads(meta.get("qat_torch", "{}")) if a.resume else {"step": recipe["step"], "epoch": 0, "frozenBn": recipe["frozenBn"]}
    rt.load_state(model, {k: v for k, v in tensors.items() if not k.startswith("optim.")})
    for path in state["frozenBn"]:
        model.get_submodule(path).freeze_bn_stats()
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=tr["momentum"], weight_decay=tr["weightDecay"])
    if a.resume:
        for i, group_p in enumerate(opt.param_groups[0]["params"]):
            if f"optim.{i}.momentum_buffer" in tensors:
                opt.state[group_p]["momentum_buffer"] = tensors[f"optim.{i}.momentum_buffer"].to(device)
    # buffers are kept identical by the synchronised observers and BN, not by broadcasting rank 0's
    ddp = DistributedDataParallel(model, broadcast_buffers=False) if world > 1 else model
    d = recipe["data"]
    train = dataset(a.data, "train", d["mean"], d["std"], a.subset)
    test = dataset(a.data, "test", d["mean"], d["std"], a.subset // 2)
    shuffle = not a.no_shuffle
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=shuffle, seed=a.seed, drop_last=True) if world > 1 else None
    loader = DataLoader(train, batch_size=batch, sampler=sampler, shuffle=shuffle and sampler is None, drop_last=True,
                        generator=torch.Generator().manual_seed(a.seed + state["epoch"]))
    step, epoch = state["step"], state["epoch"]
    last = a.steps or (state["step"] + a.epochs * len(loader))
    t0 = time.time()
    losses = []

    def checkpoint():
        if rank != 0:
            return
        out = rt.state_tensors(model)
        for i, prm in enumerate(opt.param_groups[0]["params"]):
            buf = opt.state.get(prm, {}).get("momentum_buffer")
            if buf is not None:
                out[f"optim.{i}.momentum_buffer"] = buf
        info = {"step": step, "epoch": epoch, "frozenBn": rt.frozen_bn_paths(model), "world": world, "lr": lr, "batchPerRank": batch}
        rt.save_safetensors(ckpt_path, out, {"qat_torch": json.dumps(info), "format": "pt"})

    while step < last:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for x, y in loader:
            if step >= last:
                break
            rt.apply_schedule(model, recipe["schedule"], step)
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            step += 1
        else:
            epoch += 1
            checkpoint()
    checkpoint()
    wall = time.time() - t0
    if a.dump_rank_states:
        rt.save_safetensors(os.path.join(a.out, f"rank{rank}.safetensors"), rt.state_tensors(model))
    if rank == 0:
        acc = evaluate(model, test)
        tail = losses[-20:]
        result = {"step": step, "epoch": epoch, "ranks": world, "batchPerRank": batch, "lr": lr, "wallSeconds": round(wall, 2),
                  "lossLast20": sum(tail) / max(1, len(tail)), "testAccuracy": acc, "testImages": len(test), "checkpoint": ckpt_path}
        with open(os.path.join(a.out, "result.json.tmp"), "w") as f:
            json.dump(result, f)
        os.replace(os.path.join(a.out, "result.json.tmp"), os.path.join(a.out, "result.json"))
        print(json.dumps(result))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
