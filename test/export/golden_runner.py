"""Runs the Python twins of an exported verl package (export/verl/python/: segment.py,
attribution.py, verifiers.py) on the golden vectors the TypeScript wrote
(scripts/golden-export.ts), and prints what they return, for
test/export/golden-parity.test.ts to compare. Standard library only (no torch, no verl).

argv[1]: the folder holding the twins; argv[2]: the fixtures folder.
"""
import importlib
import json
import math
import os
import sys
import types


def load_twins(folder):
    pkg = types.ModuleType("acpo_twins")
    pkg.__path__ = [folder]
    sys.modules["acpo_twins"] = pkg
    return {m: importlib.import_module(f"acpo_twins.{m}") for m in ("segment", "attribution", "verifiers", "math_verify")}


def unwire(v):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(v, v) if isinstance(v, str) else v


def wire(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def outcome(f):
    try:
        return {"value": f()}
    except ValueError as e:
        return {"error": str(e)}


def camel_seg(s):
    a = s["answer"]
    answer = None if a is None else {"start": a["start"], "end": a["end"], "contentStart": a["content_start"], "contentEnd": a["content_end"]}
    return {"boundaries": s["boundaries"], "answer": answer, "reasoningSteps": s["reasoning_steps"]}


def snake_rules(r):
    out = {"kind": r["kind"], "answer_boundary": r.get("answerBoundary", True)}
    for k, s in (("minGap", "min_gap"), ("length", "length"), ("align", "align"), ("markers", "markers"), ("absolute", "absolute")):
        if k in r:
            out[s] = unwire(r[k])
    if "candidates" in r:
        out["candidates"] = {k: unwire(v) for k, v in r["candidates"].items()}
    return out


def snake_seg(s):
    if s is None:
        return None
    a = s["answer"]
    answer = None if a is None else {"start": a["start"], "end": a["end"], "content_start": a["contentStart"], "content_end": a["contentEnd"]}
    return {"boundaries": s["boundaries"], "answer": answer, "reasoning_steps": s["reasoningSteps"]}


def run_segment(tw, fx):
    seg = tw["segment"]
    cases = []
    for c in fx["cases"]:
        ent = None if c["entropies"] is None else [unwire(v) for v in c["entropies"]]
        o = outcome(lambda: camel_seg(seg.segment_response(c["pieces"], ent, snake_rules(c["rules"]))))
        cases.append(o)
    thresholds = []
    for c in fx["thresholds"]:
        es = [[unwire(v) for v in e] for e in c["entropies"]]
        o = outcome(lambda: seg.entropy_threshold(es, c["fraction"]))
        thresholds.append({"value": wire(o["value"])} if "value" in o else o)
    return {"cases": cases, "thresholds": thresholds}


def run_verifiers(tw, fx):
    v = tw["verifiers"]

    def extract(r):
        m = v.extract_answer(r)
        return None if m is None else {"start": m["start"], "end": m["end"], "contentStart": m["content_start"], "contentEnd": m["content_end"], "text": m["text"]}

    return {
        "extract": [extract(c["response"]) for c in fx["extract"]],
        "decimals": [v.parse_decimal(c["text"]) for c in fx["decimals"]],
        "countdown": [v.verify_countdown(c["numbers"], c["target"], c["response"], c["formatReward"]) for c in fx["countdown"]],
        "numeric": [v.verify_numeric(c["expected"], c["response"], c["tolerance"], c["formatReward"]) for c in fx["numeric"]],
        "exact": [v.verify_exact(c["expected"], c["response"], c["formatReward"]) for c in fx["exact"]],
    }


def trajs_of(c):
    return [{"prompt_ids": t["promptIds"], "response_ids": t["responseIds"], "segmentation": snake_seg(t["segmentation"])} for t in c["trajs"]]


def judge_row(table, seq):
    """The golden judge (scripts/golden-export.ts judgeRow): a rolling hash of the context picks the row."""
    out, h = [], 0
    for i in range(len(seq) - 1):
        h = (31 * h + seq[i]) % 997
        out.append(table[h % len(table)][seq[i + 1]])
    return out


def run_attribution(tw, fx):
    at = tw["attribution"]
    table = fx["table"]
    out = []
    for c in fx["cases"]:
        seen = []

        def score(batch):
            seen.extend(b["seq"] for b in batch)
            return [judge_row(table, b["seq"]) for b in batch]

        C = at.attribute_steps(trajs_of(c), c["measure"], score)
        out.append({"seqs": seen, "C": C})
    errors = [outcome(lambda: at.attribute_steps(trajs_of(c), "loglik", lambda s: [])) for c in fx["errors"]]
    return {"cases": out, "errors": errors}


def run_math(tw, fx):
    m = tw["math_verify"]
    u = importlib.import_module("acpo_twins.jsstr").units  # mathEqual reads unit strings
    eq = lambda a, b: m.math_equal(u(a), u(b))  # noqa: E731
    return {
        "cases": [m.verify_math(c["expected"], c["response"], c["formatReward"]) for c in fx["cases"]],
        "pairs": [eq(c["a"], c["b"]) for c in fx["pairs"]],
        "differences": [eq(c["a"], c["b"]) for c in fx["differences"]],
    }


def main():
    tw = load_twins(sys.argv[1])
    fx = {n: json.load(open(os.path.join(sys.argv[2], f"{n}.json"))) for n in ("segment", "verifiers", "attribution", "math")}
    res = {"segment": run_segment(tw, fx["segment"]), "verifiers": run_verifiers(tw, fx["verifiers"]), "attribution": run_attribution(tw, fx["attribution"]), "math": run_math(tw, fx["math"])}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
