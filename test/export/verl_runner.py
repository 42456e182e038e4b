"""Calls an exported package's verl adapters the way verl's trainer and actor call the
registered functions, without verl (test/export/verl-export.test.ts).

argv[1]: {"dir": export folder, "pkg": package, "jobs": [{"B", "L", "rewards", "mask", "index",
"old", "logp", "advantages", "info"}]}. Prints {"verl_importable", "plugin_error", "results":
[{"advantage", "loss", "metrics"}]}.
"""
import importlib
import json
import sys

import torch


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
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
    print(json.dumps({"verl_importable": verl, "plugin_error": plugin_error, "results": results}))


if __name__ == "__main__":
    main()
