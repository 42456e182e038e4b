// What the exported reward function (python/reward.py, verl's custom_reward_function) runs:
// the pipeline's verifier with the options acpo's task would use, read from the same
// option parsers and defaults (runtime/engine/tasks), so `r` means on verl what it means in acpo.
import type { Pipeline } from "../../compiler/pipeline.js";
import { ARITH_DEFAULTS } from "../../runtime/engine/tasks/arith.js";
import { COUNTDOWN_DEFAULTS } from "../../runtime/engine/tasks/countdown.js";
import { readDatasetOptions } from "../../runtime/engine/tasks/dataset.js";

export interface RewardSpec {
  verifier: "countdown" | "numeric" | "math" | "exact";
  /** Numeric verifier: |answer - expected| <= tolerance (countdown's is fixed in the verifier). */
  tolerance: number | null;
  /** Reward of a wrong answer with a complete answer tag. */
  format_reward: number;
}

export function rewardSpec(p: Pipeline): RewardSpec {
  const t = p.task;
  if (t.kind === "countdown") return { verifier: "countdown", tolerance: null, format_reward: COUNTDOWN_DEFAULTS.formatReward };
  if (t.kind === "arithmetic") return { verifier: "numeric", tolerance: ARITH_DEFAULTS.tolerance, format_reward: ARITH_DEFAULTS.formatReward };
  const o = readDatasetOptions(t.kind, { train: t.train, verifier: t.verifier, promptField: t.promptField, answerField: t.answerField });
  return { verifier: o.verifier as RewardSpec["verifier"], tolerance: o.verifier === "numeric" ? o.tolerance : null, format_reward: o.formatReward };
}
