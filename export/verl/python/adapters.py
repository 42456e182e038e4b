"""verl's tensors in, the generated numerics (numerics.py) out. Needs only torch and numpy:
it runs, and is tested, without verl installed.

verl hands an advantage estimator the token-level rewards (bs, L), the response mask
(bs, L) and the prompt uids, and a policy loss the old and current log-probs, the
advantages and the response mask (verl/trainer/ppo/core_algos.py). Here each becomes the
batch layout of acpo's IR: one response per row, L token slots, the response's tokens in
step 0 (the exported pipelines do not segment), groups numbered by uid.
"""
import numpy as np
import torch

from . import numerics as N


def layout(response_mask, dtype=torch.float64):
    """step_idx (bs, L): 0 on response tokens, -1 on padding; step_length (bs, 1); length (bs,)."""
    m = response_mask > 0
    step_idx = torch.where(m, torch.zeros_like(m, dtype=torch.int64), torch.full_like(m, -1, dtype=torch.int64))
    length = m.sum(-1).to(dtype)
    return {"step_idx": step_idx, "step_length": length[:, None], "length": length}


def groups(index, device):
    """Prompt uids (any hashable values, one per response) as group ids 0..G-1 and G."""
    _, inv = np.unique(np.asarray(index), return_inverse=True)
    g = torch.as_tensor(inv.reshape(-1), dtype=torch.int64, device=device)
    return g, int(inv.max()) + 1 if inv.size > 0 else 0


def counters(x, seed=0):
    x.update({"steps": 0, "total_steps": 0, "seed": seed})
    return x


def advantage_from_verl(token_level_rewards, response_mask, index, params=None):
    """(advantages, returns), each (bs, L), zero outside the response; float64 inside."""
    if index is None:
        raise ValueError(f"acpo pipeline {N.NAME}: the advantage needs prompt groups, but verl passed no uid index")
    dtype = torch.float64
    x = layout(response_mask, dtype)
    x["group"], x["n_groups"] = groups(index, token_level_rewards.device)
    x["r"] = token_level_rewards.to(dtype).sum(-1)
    counters(x)
    with torch.no_grad():
        adv = N.advantage(x, {**N.PARAMS, **(params or {})})["advantage"]
    adv = adv.expand(response_mask.shape) * (response_mask > 0)
    adv = adv.to(token_level_rewards.dtype)
    return adv, adv


def global_scale(response_mask, info):
    """Factor turning the IR's loss over this micro-batch into this micro-batch's share of
    the loss over the whole mini-batch, across data-parallel ranks (as verl's agg_loss):
    the IR's denominators (tokens for token_mean, responses otherwise) are the micro-batch's;
    verl's are global and its gradients are averaged over dp ranks."""
    dp = int(info.get("dp_size") or 1)
    if N.AGGREGATE == "token_mean":
        local, total = (response_mask > 0).sum(), info.get("batch_num_tokens")
    else:
        local, total = response_mask.shape[0], info.get("global_batch_size")
    if total is None:
        if dp > 1:
            raise ValueError(f"acpo pipeline {N.NAME}: verl passed no global batch size with dp_size {dp}")
        return 1.0
    return float(local) / float(total) * dp


def policy_loss_from_verl(old_log_prob, log_prob, advantages, response_mask, info=None, rollout_is_weights=None, params=None, stage=None):
    """(loss, metrics) for one micro-batch with stage `stage`'s loss (default: the first
    stage's). The KL term and the entropy bonus are verl's (use_kl_loss, entropy_coeff: the
    Hydra overrides set them from the pipeline, the ACPO trainer per stage)."""
    if rollout_is_weights is not None:
        raise ValueError(f"acpo pipeline {N.NAME}: verl's rollout correction weights (rollout_is_weights) are not part of this pipeline; turn rollout correction off")
    dtype = torch.float64
    x = layout(response_mask, dtype)
    B = response_mask.shape[0]
    # The exported loss reads no group or sequence inputs (acpo export refuses those).
    x["group"], x["n_groups"] = torch.arange(B, device=response_mask.device), B
    x["logp"] = log_prob.to(dtype)
    x["old_logp"] = old_log_prob.to(dtype)
    x["H"] = torch.zeros_like(x["logp"])
    x["advantage"] = advantages.to(dtype)
    counters(x)
    out = N.STAGES[stage or N.FIRST_STAGE]["policy_loss"](x, {**N.PARAMS, **(params or {})})
    loss = (out["loss"] * global_scale(response_mask, info or {})).to(log_prob.dtype)
    m = response_mask > 0
    n = m.sum().clamp(min=1)

    def masked_mean(v):
        return float((v.detach().expand(m.shape) * m).sum() / n)

    metrics = {
        "actor/pg_clipfrac": masked_mean(out["clip_high"]),
        "actor/pg_clipfrac_lower": masked_mean(out["clip_low"]),
        "actor/ppo_kl": masked_mean(x["old_logp"] - x["logp"]),
    }
    return loss, metrics
