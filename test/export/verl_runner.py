"""Calls an exported package's verl adapters the way verl's trainer and actor call the
registered functions, without verl (test/export/verl-export.test.ts).

argv[1]: {"packages": [{"dir": export folder, "pkg": package, "jobs": [{"B", "L", "rewards",
"mask", "index", "old", "logp", "advantages", "info"}]}]} (distinct package names: one process
imports them all). Prints one {"verl_importable", "plugin_error", "results": [{"advantage",
"loss", "metrics"}]} per package.
"""
import importlib
import json
import sys

import torch


def run(spec):
    sys.path.insert(0, spec["dir"])
    adapters = importlib.import_module(f"{spec['pkg']}.adapters")
    try:
        importlib.import_module("verl")
        verl = True
    except ImportError:
        verl = False
    try:
        importlib.import_module(f"{spec['pkg']}.verl_plugin")
        plugin_error = None
    except ImportError as e:
        plugin_error = str(e)
    results = []
    for j in spec["jobs"]:
        B, L = j["B"], j["L"]
        t = lambda k: torch.tensor(j[k], dtype=torch.float32).reshape(B, L)
        mask = t("mask")
        adv, ret = adapters.advantage_from_verl(t("rewards"), mask, j["index"])
        logp = t("logp").requires_grad_(True)
        loss, metrics = adapters.policy_loss_from_verl(t("old"), logp, t("advantages"), mask, j["info"])
        (grad,) = torch.autograd.grad(loss, [logp])
        results.append({"advantage": adv.reshape(-1).tolist(), "same_returns": bool(torch.equal(adv, ret)), "loss": loss.item(), "grad": grad.reshape(-1).tolist(), "metrics": metrics})
    return {"verl_importable": verl, "plugin_error": plugin_error, "results": results}


def main():
    with open(sys.argv[1]) as f:
        packages = json.load(f)["packages"]
    print(json.dumps([run(p) for p in packages]))


if __name__ == "__main__":
    main()
