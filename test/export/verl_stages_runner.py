"""Runs an exported package's stage machinery and reward function without verl
(test/export/verl-stages.test.ts): each stage's generated loss through the verl adapter,
the stage schedule (schedule.py) over the run's steps, and compute_score on responses.

argv[1]: {"jobs": [{"dir", "pkg", "losses": [{"stage", "B", "L", "mask", "old", "logp",
"advantages"}], "steps": N, "rewards": [{"solution_str", "ground_truth"}]}]} (packages with
distinct names: one process imports them all). Prints one result per job: {"losses":
[{"loss", "grad"}], "schedule": {"stages": [stage during step 1..N], "switches": [...]},
"rewards": [...]}.
"""
import importlib
import json
import sys

import torch


def run(spec):
    sys.path.insert(0, spec["dir"])
    pkg = spec["pkg"]
    adapters = importlib.import_module(f"{pkg}.adapters")
    schedule = importlib.import_module(f"{pkg}.schedule")
    reward = importlib.import_module(f"{pkg}.reward")
    losses = []
    for j in spec.get("losses", []):
        B, L = j["B"], j["L"]
        t = lambda k: torch.tensor(j[k], dtype=torch.float64).reshape(B, L)  # noqa: E731
        logp = t("logp").requires_grad_(True)
        loss, _ = adapters.policy_loss_from_verl(t("old"), logp, t("advantages"), t("mask"), {}, stage=j["stage"])
        (grad,) = torch.autograd.grad(loss, [logp])
        losses.append({"loss": loss.item(), "grad": grad.reshape(-1).tolist()})
    s = schedule.StageSchedule()
    stages, switches = [], []
    for step in range(1, spec.get("steps", 0) + 1):
        stages.append(s.stage)
        e = s.after_step(step)
        if e is not None:
            switches.append({"step": step, **e})
    rewards = [reward.compute_score("acpo", r["solution_str"], r["ground_truth"], None) for r in spec.get("rewards", [])]
    return {"losses": losses, "schedule": {"stages": stages, "switches": switches}, "rewards": rewards}


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)["jobs"]
    print(json.dumps([run(j) for j in jobs]))


if __name__ == "__main__":
    main()
