"""Writes test/fixtures/optim.json: torch's own SGD/AdamW updates and OneCycleLR/cosine rates, as the oracle for
src/optim. Run with Debian's python3-torch: /usr/bin/python3 scripts/make_optim_fixtures.py"""
import json
import math
import pathlib

import torch

torch.manual_seed(0)
steps = 6
p0 = torch.randn(7, dtype=torch.float64)
grads = [torch.randn(7, dtype=torch.float64) for _ in range(steps)]


def run(make, schedule=None):
    p = torch.nn.Parameter(p0.clone())
    opt = make([p])
    sched = schedule(opt) if schedule else None
    trace = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        if sched:
            sched.step()
        trace.append(p.detach().tolist())
    return trace


cases = {
    "sgd_plain": ({"optimizer": "sgd", "lr": 0.1}, run(lambda ps: torch.optim.SGD(ps, lr=0.1))),
    "sgd_momentum_wd": (
        {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weightDecay": 5e-4},
        run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4)),
    ),
    "sgd_nesterov": (
        {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weightDecay": 1e-3},
        run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ),
    "adamw": (
        {"optimizer": "adamw", "lr": 0.01, "weightDecay": 0.05},
        run(lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.05)),
    ),
}

# Learning rates and momenta a schedule gives at every step.
def rates(make_sched, total):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = make_sched(opt)
    out = []
    for _ in range(total):
        g = opt.param_groups[0]
        out.append([g["lr"], g["momentum"]])
        opt.step()
        sched.step()
    return out


total = 20
schedules = {
    "onecycle": rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=total), total),
    "cosine": rates(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total), total),
}

out = {
    "p0": p0.tolist(),
    "grads": [g.tolist() for g in grads],
    "optimizers": {k: {"options": o, "trace": t} for k, (o, t) in cases.items()},
    "schedules": {"lr": 0.1, "total": total, **schedules},
}
path = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "optim.json"
path.write_text(json.dumps(out) + "\n")
print(f"wrote {path}")
