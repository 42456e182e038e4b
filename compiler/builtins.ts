// Built-in quantities and functions: what each name means, its granularity, and where
// it may be used. spec/language.md has the same table for users.
import type { ValueType } from "./ast.js";
import type { Level } from "./levels.js";

/** Where a name may appear: anywhere, only in a stage's `kl`, or only in a stage's `until`. */
export type Context = "any" | "kl" | "until";

export interface Quantity {
  level: Level;
  type: ValueType;
  doc: string;
  context: Context;
  /** What the pipeline must declare for the quantity to exist. */
  requires?: "segment" | "attribution" | "step_checker" | "mc_rollouts" | "judge";
}

function q(level: Level, doc: string, extra: Partial<Quantity> = {}): Quantity {
  return { level, type: "num", doc, context: "any", ...extra };
}

/** Tasks whose runtime has a step checker (runtime/engine/tasks/countdown-steps.ts, stepChecker): what `step_reward` needs. */
export const STEP_CHECKER_TASKS: readonly string[] = ["countdown"];

export const QUANTITIES: Readonly<Record<string, Quantity>> = {
  // token level
  H: q("token", "entropy of the policy's next-token distribution at this position, -sum_v p_v log p_v (nats)"),
  p: q("token", "probability of the sampled token under the current policy"),
  logp: q("token", "log-probability of the sampled token under the current policy"),
  old_logp: q("token", "log-probability of the sampled token under the policy that sampled it"),
  ref_logp: q("token", "log-probability of the sampled token under the stage's reference policy"),
  rollout_logp: q("token", "log-probability the sampler recorded when it drew the token (old_logp is the trainer's recomputation when they differ)"),
  ratio: q("token", "importance ratio exp(logp - old_logp)"),
  position: q("token", "0-based index of the token in its response"),
  rand: q("token", "uniform random number in [0, 1), drawn per token from the run's seeded generator"),
  k1: q("token", "KL estimator k1 = logp - ref_logp", { context: "kl" }),
  k2: q("token", "KL estimator k2 = (logp - ref_logp)^2 / 2", { context: "kl" }),
  k3: q("token", "KL estimator k3 = exp(ref_logp - logp) - (ref_logp - logp) - 1", { context: "kl" }),
  // step level
  C: q("step", "attribution score of the reasoning step (see `attribution`)", { requires: "attribution" }),
  step_index: q("step", "0-based index of the reasoning step within its response", { requires: "segment" }),
  step_length: q("step", "number of tokens in the reasoning step", { requires: "segment" }),
  step_entropy: q("step", "mean token entropy H over the step's tokens", { requires: "segment" }),
  step_reward: q("step", "the task's step checker on this step alone: 1 when every equation `a op b = c` in it holds with available numbers, 0 when one does not, 1 for a step without an equation (task countdown)", { requires: "step_checker" }),
  mc_value: q("step", "Monte-Carlo value of the step's start (VinePPO): the mean reward of `rollout { mc_rollouts K }` responses continued from the prompt and the response before the step", { requires: "mc_rollouts" }),
  mc_next: q("step", "Monte-Carlo value where the step ends: the next step's mc_value, or for the last step the response's own reward r", { requires: "mc_rollouts" }),
  judge_score: q("step", "a judge model's log-probability of the `judge` block's verdict after the step: log p_judge(verdict | prompt, response up to the step's end, question), normalised against the alternative's probability when the block names `against` (a generative process reward model)", { requires: "judge" }),
  // sequence level
  r: q("sequence", "reward of the response given by the task's verifier"),
  length: q("sequence", "number of tokens in the response"),
  correct: q("sequence", "whether the verifier accepted the response", { type: "bool" }),
  format: q("sequence", "the verifier's format check as a number: 1 when the response has a complete <answer>...</answer>, else 0"),
  // group level
  accuracy: q("group", "fraction of the group's G responses that are correct"),
  // scalars
  G: q("scalar", "group size: responses sampled per prompt (rollout.group)"),
  steps: q("scalar", "optimizer steps taken so far in this stage", { context: "until" }),
  total_steps: q("scalar", "optimizer steps taken so far in the whole run", { context: "until" }),
};

export interface FunctionSig {
  /** Number of arguments when applied elementwise; undefined when it is only a reduction. */
  arity?: number;
  /** True when `f(x over L, ...)` is a reduction. */
  reduction: boolean;
  /** True for the scans (cumsum, suffix_sum): `f(x over seq)` keeps x's level (a value per token or step). */
  scan?: boolean;
  /** Extra scalar arguments a reduction takes after `x over L` (quantile's q, std's ddof, a scan's gamma). */
  extra?: { name: string; required: boolean; min: number; max: number; integer?: boolean };
  /** Argument and result types. */
  argType: ValueType;
  doc: string;
}

export const FUNCTIONS: Readonly<Record<string, FunctionSig>> = {
  abs: { arity: 1, reduction: false, argType: "num", doc: "|x|" },
  exp: { arity: 1, reduction: false, argType: "num", doc: "e^x" },
  log: { arity: 1, reduction: false, argType: "num", doc: "natural logarithm" },
  sqrt: { arity: 1, reduction: false, argType: "num", doc: "square root" },
  sigmoid: { arity: 1, reduction: false, argType: "num", doc: "1 / (1 + e^-x)" },
  tanh: { arity: 1, reduction: false, argType: "num", doc: "hyperbolic tangent" },
  floor: { arity: 1, reduction: false, argType: "num", doc: "largest integer <= x (zero derivative)" },
  clip: { arity: 3, reduction: false, argType: "num", doc: "clip(x, lo, hi) = min(max(x, lo), hi)" },
  min: { arity: 2, reduction: true, argType: "num", doc: "min(a, b) elementwise, or min(x over L)" },
  max: { arity: 2, reduction: true, argType: "num", doc: "max(a, b) elementwise, or max(x over L)" },
  mean: { reduction: true, argType: "num", doc: "mean(x over L): arithmetic mean over each unit of level L" },
  sum: { reduction: true, argType: "num", doc: "sum(x over L)" },
  std: {
    reduction: true,
    argType: "num",
    extra: { name: "ddof", required: false, min: 0, max: 1, integer: true },
    doc: "std(x over L[, ddof]): standard deviation, population (ddof 0, the default) or sample (ddof 1)",
  },
  median: { reduction: true, argType: "num", doc: "median(x over L) = quantile(x over L, 0.5)" },
  quantile: {
    reduction: true,
    argType: "num",
    extra: { name: "q", required: true, min: 0, max: 1 },
    doc: "quantile(x over L, q): the q-quantile, linear interpolation between order statistics",
  },
  cumsum: {
    reduction: true,
    scan: true,
    argType: "num",
    extra: { name: "gamma", required: false, min: 0, max: 1 },
    doc: "cumsum(x over seq[, gamma]): running sum along the response, y_t = sum over k <= t of gamma^(t-k) x_k (gamma 1 by default); x per token or step",
  },
  suffix_sum: {
    reduction: true,
    scan: true,
    argType: "num",
    extra: { name: "gamma", required: false, min: 0, max: 1 },
    doc: "suffix_sum(x over seq[, gamma]): sum from here to the response's end (reward-to-go), y_t = sum over k >= t of gamma^(k-t) x_k; x per token or step",
  },
  frac: { reduction: true, argType: "bool", doc: "frac(c over L): fraction of the unit's elements where the condition c holds" },
};

/** Names of levels a user may write after `over`. */
export const OVER_NAMES = ["batch", "group", "seq", "step"];
