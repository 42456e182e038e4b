"""Step-1 probes behind spec/testbed.md "A PyTorch reference of the GRPO step" (issue 13).

From the warm start, for each batch: torch's GRPO update (scripts/torch_grpo_reference.py), its
gradient norm before clipping, and the exact token-mean k3 KL of the updated policy to the warm
start on ONE fixed set of torch-sampled responses (so no measurement-sample noise); with --freq,
the sampled tokens' probabilities under the warm start against their exact expectation (is the
sampler drawing the policy's distribution?). Batches, per seed S:
  acpo   the step-1 trajectories of the acpo run RUNS/seed-S (trained with --samples-per-step 128)
  mixed  acpo's step-1 prompts of that run, sampled by torch (generator seed 1000 + S)
  torch  torch's own prompts and samples (as the reference's step 1 with --set-seed S)

  /usr/bin/python3 scripts/torch_grpo_step1_probe.py --plan PLAN_DIR --runs RUNS --side acpo --seeds 0-14 [--freq]
Run python with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset on Debian (bench/lib/torch.ts).
"""
import argparse
import json
import math
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_grpo_reference as R  # noqa: E402
from python.verifiers import verify_countdown  # noqa: E402  (on the path through torch_grpo_reference)

TAUS = [1e-3, 1e-2, 0.1, 0.5]


def rewarded(ref, tok, probs, group, cfg, gen):
    rows, resp, _, _ = R.rollout(ref, tok, [p["prompt"] for p in probs], group, cfg["max_tokens"], cfg["temperature"], gen)
    rewards = [verify_countdown(probs[i // group]["numbers"], probs[i // group]["target"], tok.decode(r))["reward"] for i, r in enumerate(resp)]
    return rows, resp, rewards


def batch(side, seed, run, ref, tok, cfg):
    g = cfg["group"]
    if side == "torch":
        return rewarded(ref, tok, R.countdown_problems(cfg["task"], cfg["prompts"], random.Random(seed)), g, cfg, torch.Generator().manual_seed(seed))
    ts = R.read_run_batches(run, cfg["prompts"], g)[1]
    if side == "acpo":
        rows, resp = R.replay_rows(tok, ts, run, 1)
        return rows, resp, [t["reward"] for t in ts]
    probs = [{"numbers": [int(x) for x in t["prompt"].split("Use ")[1].split(" once")[0].split()],
              "target": int(t["problem"].split("=")[1]), "prompt": t["prompt"]} for t in ts[::g]]
    return rewarded(ref, tok, probs, g, cfg, torch.Generator().manual_seed(1000 + seed))


def step_kl(b, ref, fixed, cfg):
    """Gradient norm of one step from the warm start, and the updated policy's KL on the fixed set."""
    model, _ = R.load_model(cfg["model"])
    opt = R.adamw(model, cfg)
    R.set_lr(opt, R.lr_at(cfg, 1))
    _, gnorm, _ = R.grpo_update(model, ref, opt, b[0], b[1], b[2], cfg)
    rows, resp, ref_lp, mask = fixed
    with torch.no_grad():
        d = ref_lp - R.token_logp(model, rows, resp)[0]
    return gnorm, float(((torch.exp(d) - d - 1) * mask).sum() / mask.sum())


def frequencies(b, ref):
    """Per threshold: sampled tokens with p < tau, its expectation sum_{p_v < tau} p_v, and the variance."""
    rows, resp, _ = b
    B, S = len(rows), max(len(p) + len(r) for p, r in zip(rows, resp))
    ids, ok = torch.zeros(B, S, dtype=torch.long), torch.zeros(B, S, dtype=torch.bool)
    for i in range(B):
        seq = rows[i] + resp[i]
        ids[i, : len(seq)], ok[i, : len(seq)] = torch.tensor(seq), True
    with torch.no_grad():
        P = torch.softmax(ref(ids[:, :-1], torch.arange(S)[None].expand(B, S)[:, :-1], ok), -1)
    out = [[0.0, 0.0, 0.0] for _ in TAUS]
    for i in range(B):
        for t, x in enumerate(resp[i]):
            p = P[i, len(rows[i]) - 1 + t]
            for k, tau in enumerate(TAUS):
                e = float(p[p < tau].sum())
                out[k][0] += float(p[x]) < tau
                out[k][1] += e
                out[k][2] += e * (1 - e)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True)
    ap.add_argument("--runs", help="folder of acpo runs named seed-S (sides acpo and mixed)")
    ap.add_argument("--side", choices=["acpo", "mixed", "torch"], required=True)
    ap.add_argument("--seeds", default="0-14", help="A-B")
    ap.add_argument("--freq", action="store_true", help="also the sampled tokens' probabilities against their expectation")
    a = ap.parse_args()
    if a.side != "torch" and not a.runs:
        raise SystemExit(f"--side {a.side} reads acpo runs: give --runs")
    torch.set_num_threads(1)
    ns = argparse.Namespace(**{k: None for k in ("replay", "model", "set_seed")}, plan=a.plan, seed=0, prompts=16, group=8, max_tokens=96,
                            temperature=1.0, lr=3e-4, warmup_steps=0, clip_grad_norm=1.0, eps_low=0.2, eps_high=0.2,
                            aggregate="seq_mean_token_mean", kl=0.04, adv_eps=1e-4, ddof=1)
    cfg = R.settings(ns)
    ref, tok = R.load_model(cfg["model"])
    ref.requires_grad_(False)
    rows, resp, _ = batch("torch", 12345, None, ref, tok, cfg)  # the fixed evaluation set
    with torch.no_grad():
        ref_lp, mask = R.token_logp(ref, rows, resp)
    fixed = (rows, resp, ref_lp, mask)
    lo, hi = (int(x) for x in a.seeds.split("-"))
    freq = [[0.0, 0.0, 0.0] for _ in TAUS]
    for s in range(lo, hi + 1):
        b = batch(a.side, s, os.path.join(a.runs or "", f"seed-{s}"), ref, tok, cfg)
        gnorm, kl = step_kl(b, ref, fixed, cfg)
        print(json.dumps({"side": a.side, "seed": s, "grad_norm": gnorm, "kl_fixed": kl, "reward": sum(b[2]) / len(b[2])}), flush=True)
        if a.freq:
            for k, (o, e, v) in enumerate(frequencies(b, ref)):
                freq[k] = [freq[k][0] + o, freq[k][1] + e, freq[k][2] + v]
    if a.freq:
        for tau, (o, e, v) in zip(TAUS, freq):
            print(f"p(x) < {tau:g}: observed {o:.0f}, expected {e:.1f} ± {math.sqrt(v):.1f} (z {(o - e) / math.sqrt(v):+.2f})", file=sys.stderr)


if __name__ == "__main__":
    main()
