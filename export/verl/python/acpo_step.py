"""The driver-side step of an ACPO pipeline on verl, without verl: decoded token pieces and
per-token entropies -> segmentation (segment.py) -> attribution C from a judge's log-probs
(attribution.py) -> the IR's batch layout -> the generated advantage (numerics.py).
The layout is acpo's (runtime/loop/rl/until.ts trajectoryBatch): one row per response, steps
from the segmentation's boundaries, C per step (0 past the scored reasoning steps),
step_entropy the mean entropy of the step's tokens, H the per-token entropy.
trainer.py (verl's trainer subclass) calls `advantage_of_rows`; acpo's tests call it with
the interpreter's inputs (test/export/verl-trainer.test.ts). Needs torch and numpy only.
"""
import numpy as np
import torch

from . import numerics as N
from .attribution import attribute_steps
from .segment import rules_of_pipeline, segment_response, step_starts


def segment_rows(rows, rules):
    """Each row's segmentation (None when the pipeline does not segment)."""
    if rules is None:
        return [None] * len(rows)
    return [segment_response(r["pieces"], r["entropy"], rules) for r in rows]


def _step_means(values, starts, L):
    out = []
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else L
        total = 0.0
        for i in range(s, end):
            total += values[i]
        out.append(total / (end - s) if end > s else float("nan"))
    return out


def layout_of_rows(rows, segs, Cs, dtype=torch.float64):
    """The IR inputs of the advantage: rows [{response_ids, entropy, reward, uid}], their
    segmentations and C per reasoning step (lists; [] when attribution is off)."""
    B = len(rows)
    starts = [step_starts(s, len(r["response_ids"])) for r, s in zip(rows, segs)]
    T = max([1] + [len(r["response_ids"]) for r in rows])
    S = max([1] + [len(s) for s in starts])
    step_idx = torch.full((B, T), -1, dtype=torch.int64)
    H = torch.zeros((B, T), dtype=dtype)
    C = torch.zeros((B, S), dtype=dtype)
    step_length = torch.zeros((B, S), dtype=dtype)
    step_entropy = torch.zeros((B, S), dtype=dtype)
    for i, (r, st) in enumerate(zip(rows, starts)):
        L = len(r["response_ids"])
        s = 0
        for k in range(L):
            while s + 1 < len(st) and k >= st[s + 1]:
                s += 1
            step_idx[i, k] = s
            H[i, k] = float(r["entropy"][k])
        if L == 0:
            continue  # its single step slot stays empty (length 0)
        if len(Cs[i]) > len(st):
            raise ValueError(f"acpo: response {i} has {len(Cs[i])} attribution scores but {len(st)} steps")
        means = _step_means(r["entropy"], st, L)
        for k, start in enumerate(st):
            step_length[i, k] = (st[k + 1] if k + 1 < len(st) else L) - start
            C[i, k] = Cs[i][k] if k < len(Cs[i]) else 0.0
            step_entropy[i, k] = means[k]
    _, inv = np.unique(np.asarray([r["uid"] for r in rows], dtype=object).astype(str), return_inverse=True)
    return {
        "step_idx": step_idx, "step_length": step_length, "step_entropy": step_entropy, "C": C, "H": H,
        "group": torch.as_tensor(inv.reshape(-1), dtype=torch.int64), "n_groups": int(inv.max()) + 1 if B else 0,
        "r": torch.tensor([float(r["reward"]) for r in rows], dtype=dtype),
        "length": torch.tensor([float(len(r["response_ids"])) for r in rows], dtype=dtype),
        "steps": 0, "total_steps": 0, "seed": 0,
    }


def advantage_of_rows(rows, score=None, params=None, counters=None):
    """Per-token advantages (list of lists, one per row) and what led to them.

    rows: [{prompt_ids, response_ids, pieces (decoded text of each response token), entropy
    (per token), reward, uid}]; score(seqs) -> log-prob rows of the attribution judge (needed
    when the pipeline has attribution). Groups are numbered by uid in sorted order, as acpo
    numbers them by group id (the advantage depends on membership, not on the numbering)."""
    rules = rules_of_pipeline(N.SEGMENT)
    segs = segment_rows(rows, rules)
    if N.ATTRIBUTION is not None and rules is not None:
        if score is None:
            raise ValueError(f"acpo pipeline {N.NAME}: attribution needs a judge to score with")
        trajs = [{"prompt_ids": r["prompt_ids"], "response_ids": r["response_ids"], "segmentation": s} for r, s in zip(rows, segs)]
        Cs = attribute_steps(trajs, N.ATTRIBUTION["measure"], score)
    else:
        Cs = [[] for _ in rows]
    x = layout_of_rows(rows, segs, Cs)
    x.update(counters or {})
    with torch.no_grad():
        adv = N.advantage(x, {**N.PARAMS, **(params or {})})["advantage"]
    adv = adv.expand(x["step_idx"].shape)
    out = [adv[i, : len(r["response_ids"])].tolist() for i, r in enumerate(rows)]
    return {"advantages": out, "segmentations": segs, "C": Cs}
