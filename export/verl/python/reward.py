"""verl's custom reward function for this pipeline (config: reward.custom_reward_function,
path pkg://<package>.reward, name compute_score): acpo's verdict on the response from the
pipeline's verifier (numerics.REWARD: countdown, numeric for arith, math, exact), with the
options acpo's task uses. Needs the standard library only; runs in acpo's tests.

ground_truth, as verl's parquet files carry it (reward_model.ground_truth):
  countdown  {"numbers": [...], "target": t} (verl's countdown convention), or its JSON text
  numeric    a number, or a string holding a plain decimal number
  math       the reference answer, or a worked solution (its last \\boxed{}, or after "####")
  exact      the expected string
"""
import json

from . import numerics as N
from .math_verify import verify_math
from .verifiers import parse_decimal, verify_countdown, verify_exact, verify_numeric


def _countdown_truth(ground_truth):
    g = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    try:
        return [float(x) for x in g["numbers"]], float(g["target"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"acpo pipeline {N.NAME}: countdown ground_truth must be {{\"numbers\": [...], \"target\": t}}, got {ground_truth!r}") from e


def _numeric_truth(ground_truth):
    if isinstance(ground_truth, (int, float)) and not isinstance(ground_truth, bool):
        return float(ground_truth)
    v = parse_decimal(str(ground_truth))
    if v is None:
        raise ValueError(f"acpo pipeline {N.NAME}: numeric ground_truth must be a number, got {ground_truth!r}")
    return v


def verdict(solution_str, ground_truth):
    """acpo's verdict {reward, correct, answer, reason} on a response text."""
    spec = N.REWARD
    fr = spec["format_reward"]
    if spec["verifier"] == "countdown":
        numbers, target = _countdown_truth(ground_truth)
        return verify_countdown(numbers, target, solution_str, fr)
    if spec["verifier"] == "numeric":
        return verify_numeric(_numeric_truth(ground_truth), solution_str, spec["tolerance"], fr)
    if spec["verifier"] == "math":
        return verify_math(str(ground_truth), solution_str, fr)
    return verify_exact(str(ground_truth), solution_str, fr)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's reward function: {"score": acpo's reward, "acc": 1.0 when correct, else 0.0}."""
    v = verdict(solution_str, ground_truth)
    return {"score": float(v["reward"]), "acc": 1.0 if v["correct"] else 0.0}
