"""Runs generated PyTorch stage functions on batches given as JSON (test/export/torch.ts).

argv[1]: a job file {"package": DIR, "jobs": [{"module", "fn", "batch", "params", "dtype"}]}.
DIR holds a Python package (imported by its folder name). Prints one JSON object:
{"results": [{"outputs": {key: flat list}, "grad": {"logp": ..., "H": ...}}]} with
non-finite numbers as the strings "nan", "inf", "-inf" (JSON has none).
"""
import importlib
import json
import math
import os
import sys

import torch


def enc(t):
    vals = t.detach().reshape(-1).tolist() if torch.is_tensor(t) else [float(t)]
    return [v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")) for v in vals]


def dec(xs, dtype):
    return torch.tensor([float(v) for v in xs], dtype=dtype)


def batch_inputs(b, dtype):
    B, T, S = b["B"], b["T"], b["S"]
    x = {
        "step_idx": torch.tensor(b["stepIdx"], dtype=torch.int64).reshape(B, T),
        "group": torch.tensor(b["group"], dtype=torch.int64),
        "n_groups": b["nGroups"],
        "steps": b["steps"], "total_steps": b["totalSteps"], "seed": b["seed"],
    }
    for key, name, shape in [
        ("logp", "logp", (B, T)), ("H", "H", (B, T)), ("old_logp", "oldLogp", (B, T)), ("ref_logp", "refLogp", (B, T)), ("rollout_logp", "rolloutLogp", (B, T)),
        ("C", "C", (B, S)), ("step_length", "stepLength", (B, S)), ("step_entropy", "stepEntropy", (B, S)),
        ("step_reward", "stepReward", (B, S)), ("mc_value", "mcValue", (B, S)), ("mc_next", "mcNext", (B, S)), ("judge_score", "judgeScore", (B, S)),
        ("r", "reward", (B,)), ("correct", "correct", (B,)), ("format", "format", (B,)), ("length", "length", (B,)),
    ]:
        if b.get(name) is not None:
            x[key] = dec(b[name], dtype).reshape(shape)
    for key, value in b.get("extra", {}).items():
        x[key] = dec(value["data"], dtype).reshape(value["shape"])
    return x


def run(job, package):
    dtype = torch.float64 if job.get("dtype", "float64") == "float64" else torch.float32
    mod = importlib.import_module(f"{package}.{job['module']}")
    x = batch_inputs(job["batch"], dtype)
    x["logp"].requires_grad_(True)
    x["H"].requires_grad_(True)
    out = getattr(mod, job["fn"])(x, job["params"])
    res = {"outputs": {k: enc(v) for k, v in out.items()}}
    if "loss" in out and out["loss"].requires_grad:
        gl, gh = torch.autograd.grad(out["loss"], [x["logp"], x["H"]], allow_unused=True)
        res["grad"] = {"logp": enc(gl if gl is not None else torch.zeros_like(x["logp"])), "H": enc(gh if gh is not None else torch.zeros_like(x["H"]))}
    return res


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    sys.path.insert(0, os.path.dirname(os.path.abspath(spec["package"])))
    package = os.path.basename(os.path.abspath(spec["package"]))
    print(json.dumps({"results": [run(j, package) for j in spec["jobs"]]}))


if __name__ == "__main__":
    main()
