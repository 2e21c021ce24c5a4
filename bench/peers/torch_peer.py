"""The PyTorch peer of `npm run bench` (bench/torch-peer.ts starts it; one process per bench run).

Configured as PyTorch users run it: OpenMP waits passively (OMP_WAIT_POLICY=PASSIVE, set before
torch loads), and the BLAS behind Debian's python3-torch is checked first: it prints which
library /proc/self/maps shows (libblas.so.3 is an update-alternatives link; netlib's reference
BLAS runs a 1024³ matmul at ~5 GFLOP/s, OpenBLAS at ~100) and its 1024³ matmul GFLOP/s at every
thread count it may be asked for, and refuses to report at a thread count where that is below
50 GFLOP/s per thread (measuring again at each request for a refused count, as load changes).

Protocol: one JSON object per line. On start it writes a hello line {torch, blas, gflops,
allowed_threads, refused}; then for each request line {op, threads, min_time, ...} it writes
{seconds} (the median seconds of one call over ≥ min_time s and ≥ 5 calls, after a warm-up),
or {refused} / {error}. Ops: matmul {n}; conv {batch, c, oc, hw, backward}; overhead {kind};
train {model, qat, batch, x, y, shape} (one SGD step; x and y are raw float32 / int32 files
written by the caller, so both sides train on the same batches); infer {model, int8, x, shape,
train} (int8: the QAT model of `train`'s request after 3 steps, converted).
Models: smallcnn (bench/peers/smallcnn_torch.py), resnet20 (bench/peers/resnet20_torch.py), vit (bench/peers/vit_torch.py, FP32);
QAT with the onednn QAT qconfig after fuse_modules_qat, int8 with the onednn engine.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import copy  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.ao.quantization import convert, fuse_modules_qat, get_default_qat_qconfig, prepare_qat  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet20_torch import ResNet20, fuse_groups  # noqa: E402
from smallcnn_torch import FUSE_GROUPS, SmallCNN  # noqa: E402

MIN_GFLOPS_PER_THREAD = 50.0
torch.manual_seed(0)
torch.backends.quantized.engine = "onednn"


def median_seconds(fn, min_time, min_reps=5):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def blas_info():
    """The BLAS shared object actually mapped into this process, and OpenBLAS's kernel name."""
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
    info = {"libraries": libs, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
            handle.openblas_get_corename.restype = ctypes.c_char_p
            handle.openblas_get_config.restype = ctypes.c_char_p
            info["openblas_core"] = handle.openblas_get_corename().decode()
            info["openblas_config"] = handle.openblas_get_config().decode()
            break
        except (OSError, AttributeError):
            continue
    return info


def matmul_gflops(n, threads, tries=3):
    """Best of `tries` medians (load from other jobs only ever lowers it)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = min(median_seconds(lambda: torch.mm(a, b), 0.3) for _ in range(tries))
    return 2 * n ** 3 / best / 1e9


def load(path, shape, dtype):
    return torch.from_numpy(np.fromfile(path, dtype=dtype).reshape(shape).copy())


class Models:
    """Float, QAT and int8 models with their SGD steppers, built once per (model, data)."""

    def __init__(self):
        self.cache = {}

    @staticmethod
    def make(name):
        if name == "smallcnn":
            return SmallCNN(), FUSE_GROUPS
        if name == "resnet20":
            m = ResNet20()
            return m, fuse_groups(m)
        if name == "vit":
            from vit_torch import ViT  # noqa: E402  (issue 18: the small ViT, FP32 only — eager QAT does not cover attention's matmuls)
            return ViT(), None
        raise ValueError(f"unknown model {name!r}")

    def stepper(self, req):
        key = ("train", req["model"], req["qat"], req["x"])
        if key not in self.cache:
            model, groups = self.make(req["model"])
            if req["qat"]:
                if groups is None:
                    raise ValueError(f"no eager QAT recipe for {req['model']!r}")
                model = fuse_modules_qat(model.train(), groups)
                model.qconfig = get_default_qat_qconfig("onednn")
                model = prepare_qat(model)
            x = load(req["x"], req["shape"], np.float32)
            y = load(req["y"], [req["shape"][0]], np.int32).long()
            opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
            batch, state = req["batch"], {"i": 0}

            def step():
                model.train()
                b = state["i"] % (x.shape[0] // batch)
                state["i"] += 1
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[b * batch:(b + 1) * batch]), y[b * batch:(b + 1) * batch]).backward()
                opt.step()
            self.cache[key] = (model, step)
        return self.cache[key]

    def inference(self, req):
        key = ("infer", req["model"], req["int8"], req["x"])
        if key not in self.cache:
            x = load(req["x"], req["shape"], np.float32)
            if req["int8"]:
                qat, step = self.stepper({**req["train"], "model": req["model"], "qat": True})
                for _ in range(3):  # a few QAT steps before conversion, as on our side
                    step()
                model = convert(copy.deepcopy(qat).eval())
            else:
                model = self.make(req["model"])[0].eval()

            def run():
                with torch.no_grad():
                    model(x)
            self.cache[key] = run
        return self.cache[key]


def conv_fn(req):
    x = torch.randn(req["batch"], req["c"], req["hw"], req["hw"], requires_grad=True)
    w = torch.randn(req["oc"], req["c"], 3, 3, requires_grad=True)
    if not req["backward"]:
        return lambda: nn.functional.conv2d(x, w, padding=1)

    def fwd_bwd():
        y = nn.functional.conv2d(x, w, padding=1)
        y.backward(torch.ones_like(y))
    return fwd_bwd


def overhead_fn(req):
    small, small_grad, reps = torch.randn(4), torch.randn(4, requires_grad=True), 2000
    op = {"add": lambda: small + small, "relu": lambda: torch.relu(small), "add_grad": lambda: small_grad + small_grad}[req["kind"]]

    def loop():
        for _ in range(reps):
            op()
    return loop, reps


def refusal(gflops, threads):
    return (f"1024³ matmul at {gflops:.1f} GFLOP/s on {threads} thread(s) is below {MIN_GFLOPS_PER_THREAD:.0f} per thread: "
            "is libblas.so.3 the netlib reference BLAS (update-alternatives --display libblas.so.3-x86_64-linux-gnu), "
            "or is the machine loaded?")


def serve():
    threads = sorted({int(t) for t in sys.argv[1:]} or {1, os.cpu_count()})
    gflops = {t: matmul_gflops(1024, t) for t in threads}
    allowed = [t for t in threads if gflops[t] / t >= MIN_GFLOPS_PER_THREAD]
    refused = {t: refusal(gflops[t], t) for t in threads if t not in allowed}
    hello = {"torch": torch.__version__, "blas": blas_info(), "gflops": gflops, "allowed_threads": allowed, "refused": refused}
    print(json.dumps(hello), flush=True)
    models = Models()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            t = int(req["threads"])
            g = None
            if t not in allowed and t in refused:  # refused at start: check again, the load may have dropped
                g = matmul_gflops(1024, t)
                if g / t >= MIN_GFLOPS_PER_THREAD:
                    allowed.append(t)
                else:
                    refused[t] = refusal(g, t)
            if t not in allowed:
                print(json.dumps({"refused": refused.get(t, f"thread count {t} was not checked"), "gflops": g if t in refused else None}), flush=True)
                continue
            torch.set_num_threads(t)
            min_time, per = float(req.get("min_time", 1.0)), 1
            op = req["op"]
            if op == "matmul":
                a, b = torch.randn(req["n"], req["n"]), torch.randn(req["n"], req["n"])
                fn = lambda: torch.mm(a, b)  # noqa: E731
            elif op == "conv":
                fn = conv_fn(req)
            elif op == "overhead":
                fn, per = overhead_fn(req)
            elif op == "train":
                fn = models.stepper(req)[1]
            elif op == "infer":
                fn = models.inference(req)
            else:
                raise ValueError(f"unknown op {op!r}")
            print(json.dumps({"seconds": median_seconds(fn, min_time) / per}), flush=True)
        except Exception as e:  # reported to the caller, which names the case
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


if __name__ == "__main__":
    serve()
