"""Python twin of acpo's step attribution batches (runtime/loop/rl/attribution.ts,
attributeStepsExplicit): which (prefix, Y) sequences the judge scores, where Y's tokens sit
in each, and C per reasoning step from the per-prefix log-likelihoods.

Y is the CONTENT of the final <answer>...</answer> (tokens [content_start, content_end));
every prefix S_1..S_i (response tokens [0, e_i), e_i = min(b_i, answer start), e_0 = 0 the
prompt alone) is followed by the answer's own opening-tag tokens [start, content_start),
conditioned on but not scored. L(e) = sum_j log p(Y_j | prompt, prefix, open tag, Y_<j);
  loglik:     C_i = L(e_i) - L(e_{i-1})
  perplexity: C_i = PPL(e_{i-1}) - PPL(e_i),  PPL(e) = exp(-L(e) / |Y|).
No segmentation: C = [] (attribution off). No complete or an empty answer: C = 0 for every
reasoning step. No reasoning steps: [].
Standard library only; test/export/golden-parity.test.ts holds it to the TypeScript.
"""
import math


def plan_of(prompt_ids, response_ids, seg, index):
    """{suffix, answer, ends} for one trajectory, or None when it needs no scoring; raises on inconsistent input."""
    if seg is None or seg["answer"] is None or seg["reasoning_steps"] == 0:
        return None
    T = len(response_ids)
    a = seg["answer"]
    start, end, cs, ce = a["start"], a["end"], a["content_start"], a["content_end"]
    if not (0 <= start < end <= T):
        raise ValueError(f"attribution: trajectory {index}: answer span [{start}, {end}) outside its {T} response tokens")
    if not (start <= cs <= ce <= end):
        raise ValueError(f"attribution: trajectory {index}: answer content [{cs}, {ce}) outside its answer span [{start}, {end})")
    K = seg["reasoning_steps"]
    if len(seg["boundaries"]) < K + 1:
        raise ValueError(f"attribution: trajectory {index}: {K} reasoning steps but {len(seg['boundaries'])} boundaries")
    if len(prompt_ids) < 1:
        raise ValueError(f"attribution: trajectory {index}: empty prompt")
    if cs == ce:
        return None  # an empty answer: no Y to explain
    ends = [0] + [min(seg["boundaries"][i], start) for i in range(1, K + 1)]
    return {"suffix": list(response_ids[start:cs]), "answer": list(response_ids[cs:ce]), "ends": ends}


def queries_of(plans):
    """One query (trajectory, prefix end) per distinct pair, in order; and the index of each pair."""
    queries, index = [], {}
    for traj, p in enumerate(plans):
        for e in (p["ends"] if p else []):
            if (traj, e) not in index:
                index[(traj, e)] = len(queries)
                queries.append((traj, e))
    return queries, index


def scoring_batch(trajs, plans, queries):
    """The judge's input per query: prompt + response[:end] + open tag + Y, and `first`, the
    index in the judge's log-prob row (logprobs[i] = log p(seq[i+1] | seq[..i])) of Y's first token."""
    out = []
    for traj, e in queries:
        t, p = trajs[traj], plans[traj]
        seq = [*t["prompt_ids"], *t["response_ids"][:e], *p["suffix"], *p["answer"]]
        out.append({"seq": seq, "first": len(t["prompt_ids"]) + e + len(p["suffix"]) - 1, "count": len(p["answer"])})
    return out


def answer_loglik(logprobs, first, count):
    """L: the sum of Y's log-probs, in order (as acpo sums them)."""
    s = 0.0
    for j in range(count):
        s += logprobs[first + j]
    return s


def combine(trajs, plans, index, L, measure):
    """C per reasoning step of each trajectory from L per query."""
    out = []
    for traj, t in enumerate(trajs):
        p = plans[traj]
        if not p:
            seg = t.get("segmentation")
            out.append([0.0] * (seg["reasoning_steps"] if seg else 0))
            continue
        m = len(p["answer"])

        def score(e):
            l = L[index[(traj, e)]]
            return l if measure == "loglik" else math.exp(-l / m)

        C = []
        for i in range(1, len(p["ends"])):
            before, after = score(p["ends"][i - 1]), score(p["ends"][i])
            C.append(after - before if measure == "loglik" else before - after)
        out.append(C)
    return out


def attribute_steps(trajs, measure, score):
    """C per reasoning step; trajs: [{prompt_ids, response_ids, segmentation}]. score(batch)
    gets every query at once ({seq, first, count}: Y is the last `count` tokens of seq) and
    returns one log-prob row per query with row[first + j] = log p(Y_j | seq before it)
    (a judge forward: the trainer's actor or reference)."""
    plans = [plan_of(t["prompt_ids"], t["response_ids"], t.get("segmentation"), i) for i, t in enumerate(trajs)]
    queries, index = queries_of(plans)
    batch = scoring_batch(trajs, plans, queries)
    rows = score(batch) if batch else []
    L = [answer_loglik(rows[k], b["first"], b["count"]) for k, b in enumerate(batch)]
    return combine(trajs, plans, index, L, measure)
