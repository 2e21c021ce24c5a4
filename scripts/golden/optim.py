#!/usr/bin/env python3
"""Golden values for src/optim: torch.optim SGD / Adam / AdamW updates on fixed parameters
and gradient sequences, and LR schedules over 30 steps.

Run with Debian's PyTorch 1.13:  /usr/bin/python3 scripts/golden/optim.py
Writes test/golden/optim/optim.json (read by test/optim/*.test.ts; tests never run Python).
Inputs (initial parameters, gradients) are generated here with torch.manual_seed and stored
in the JSON, so the TypeScript side replays exactly the same sequence.
"""
import json
import warnings
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "optim", "optim.json")
STEPS = 5
SCHED_STEPS = 30


def tolist(t):
    return t.detach().reshape(-1).tolist()


def make_inputs():
    g = torch.Generator().manual_seed(1234)
    shapes = [[3, 4], [5]]
    params = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(STEPS)]
    return shapes, params, grads


OPTIMIZER_CASES = [
    ("sgd_plain", "SGD", {"lr": 0.1}),
    ("sgd_momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd_momentum_dampening_wd", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd_nesterov_wd", "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-3}),
    ("sgd_maximize", "SGD", {"lr": 0.1, "momentum": 0.5, "maximize": True}),
    ("adam_default", "Adam", {"lr": 1e-2}),
    ("adam_wd_amsgrad", "Adam", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("adam_betas_eps", "Adam", {"lr": 3e-2, "betas": [0.8, 0.99], "eps": 1e-6}),
    ("adamw_default", "AdamW", {"lr": 1e-2}),
    ("adamw_wd_amsgrad", "AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True, "betas": [0.85, 0.995]}),
]


def run_optimizer(cls_name, opts, params0, grads, groups_lr=None):
    params = [p.clone().requires_grad_(True) for p in params0]
    kwargs = dict(opts)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    cls = getattr(torch.optim, cls_name)
    if groups_lr is None:
        opt = cls(params, **kwargs)
    else:
        opt = cls([{"params": [params[0]]}, {"params": [params[1]], "lr": groups_lr}], **kwargs)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()
        history.append([tolist(p) for p in params])
    return history


def optimizer_goldens():
    shapes, params0, grads = make_inputs()
    cases = []
    for name, cls_name, opts in OPTIMIZER_CASES:
        cases.append({"name": name, "optimizer": cls_name, "options": opts, "groups": None,
                      "params_after_each_step": run_optimizer(cls_name, opts, params0, grads)})
    for cls_name, opts in [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 1e-2})]:
        cases.append({"name": f"{cls_name.lower()}_two_groups", "optimizer": cls_name, "options": opts,
                      "groups": {"second_lr": 0.5 * opts["lr"]},
                      "params_after_each_step": run_optimizer(cls_name, opts, params0, grads, groups_lr=0.5 * opts["lr"])})
    return {"shapes": shapes, "params0": [tolist(p) for p in params0],
            "grads": [[tolist(g) for g in step] for step in grads], "cases": cases}


def build_scheduler(name, opt):
    S = torch.optim.lr_scheduler
    if name == "step":
        return S.StepLR(opt, step_size=7, gamma=0.5)
    if name == "multistep":
        return S.MultiStepLR(opt, milestones=[5, 12, 12, 20], gamma=0.3)
    if name == "exponential":
        return S.ExponentialLR(opt, gamma=0.9)
    if name == "cosine":
        return S.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    if name == "linear":
        return S.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=8)
    if name == "warmup_cosine":
        warm = S.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5)
        cos = S.CosineAnnealingLR(opt, T_max=25)
        return S.SequentialLR(opt, [warm, cos], milestones=[5])
    if name == "warmup_step":
        warm = S.LinearLR(opt, start_factor=0.5, end_factor=1.0, total_iters=4)
        step = S.StepLR(opt, step_size=6, gamma=0.5)
        return S.SequentialLR(opt, [warm, step], milestones=[4])
    raise ValueError(name)


SCHEDULES = {
    "step": {"stepSize": 7, "gamma": 0.5},
    "multistep": {"milestones": [5, 12, 12, 20], "gamma": 0.3},
    "exponential": {"gamma": 0.9},
    "cosine": {"tMax": 10, "etaMin": 0.001},
    "linear": {"startFactor": 0.25, "endFactor": 1.0, "totalIters": 8},
    "warmup_cosine": {"warmup": {"startFactor": 0.1, "endFactor": 1.0, "totalIters": 5}, "tMax": 25, "milestone": 5},
    "warmup_step": {"warmup": {"startFactor": 0.5, "endFactor": 1.0, "totalIters": 4}, "stepSize": 6, "gamma": 0.5, "milestone": 4},
}


def schedule_goldens():
    out = []
    for name, ts_opts in SCHEDULES.items():
        p1 = torch.zeros(2, requires_grad=True)
        p2 = torch.zeros(3, requires_grad=True)
        opt = torch.optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.01}], lr=0.1, momentum=0.9)
        sched = build_scheduler(name, opt)
        lrs = [sched.get_last_lr()]
        for _ in range(SCHED_STEPS):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        out.append({"name": name, "options": ts_opts, "group_lrs": [0.1, 0.01], "lrs": lrs})
    return out


def main():
    torch.set_default_dtype(torch.float32)
    # SequentialLR calls step(0) internally, which warns about the deprecated epoch argument.
    warnings.filterwarnings("ignore", message="The epoch parameter")
    data = {"torch_version": torch.__version__, "optimizers": optimizer_goldens(), "schedulers": schedule_goldens()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(data, f)
    print(f"wrote {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
