// What `acpo export verl` can carry over, decided before anything is written. A feature
// verl cannot run as the pipeline states it is refused with a reason naming the file and
// line: never dropped silently, never approximated. The checks read the resolved pipeline
// and the inputs the generated functions would read (their IR cones).
import type { Expr } from "../../compiler/ast.js";
import { cone } from "../../compiler/torch/index.js";
import type { Node } from "../../compiler/ir/ops.js";
import type { Pipeline, Stage } from "../../compiler/pipeline.js";
import type { Span } from "../../compiler/source.js";
import { relative } from "node:path";

export const at = (s: Span | undefined): string => (s ? `${relative(process.cwd(), s.file) || s.file}:${s.line}:${s.col}` : "");

/**
 * Inputs of the advantage: verl's estimator call (token_level_rewards, response_mask, uid)
 * and what the layout derives, plus what the ACPO trainer subclass (python/trainer.py) adds:
 * per-token entropy (verl's "entropy" field), step boundaries and step entropy (segmentation
 * of the decoded text), attribution C.
 */
export const ESTIMATOR_INPUTS = new Set(["r", "length", "position", "rand", "step_index", "step_length", "H", "C", "step_entropy"]);
/** Inputs only the ACPO trainer subclass supplies to the advantage. */
export const TRAINER_INPUTS = new Set(["H", "C", "step_entropy"]);
/** Inputs of verl's policy loss call (old_log_prob, log_prob, advantages, response_mask) and the layout. */
export const LOSS_INPUTS = new Set(["logp", "old_logp", "position", "rand", "step_index", "step_length", "length"]);

/** Why each input cannot reach the generated function in verl, for the refusal message. */
const WHY: Record<string, string> = {
  H: "per-token entropy, which verl's actor workers do not pass to the policy loss (the ACPO trainer subclass brings it to the advantage only)",
  C: "attribution scores, which the ACPO trainer subclass brings to the advantage only",
  step_entropy: "step entropy, which the ACPO trainer subclass brings to the advantage only",
  correct: "the verifier's accept bit, which verl's reward manager does not pass on (only the reward)",
  mc_value: "Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample",
  mc_next: "Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample",
  judge_score: "a judge model's verdict scores per step, which neither verl's reward manager nor the ACPO trainer subclass computes (they need the judge model run on every step prefix)",
  step_reward: "the task's step checker's per-step rewards, which neither verl's reward manager nor the ACPO trainer subclass computes",
  format: "the verifier's format check, which verl's reward manager does not pass on (only the reward)",
  ref_logp: "reference log-probs, which verl's policy loss does not receive",
  rollout_logp: "the sampler's log-probs, which reach verl's policy loss only as its own rollout correction weights (use verl's rollout_correction)",
  old_logp: "rollout log-probs, which verl's advantage estimator does not receive",
  logp: "current-policy log-probs, which verl's advantage estimator does not receive",
  steps: "the stage's step counter, which verl's estimator and loss do not receive",
  total_steps: "the run's step counter, which verl's estimator and loss do not receive",
  r: "rewards, which verl's policy loss does not receive",
};

/** Input names read by the cone of `roots` (stopping at provided nodes). */
export function inputsRead(nodes: readonly Node[], roots: number[], provided: Record<number, string> = {}): string[] {
  const names = new Set<string>();
  for (const id of cone(nodes, roots, provided)) {
    const n = nodes[id]!;
    if (n.op === "input" && !(id in provided)) names.add(n.name);
  }
  return [...names].sort();
}

/** Refusals for inputs outside `allowed`, in the words of `what` (e.g. "the advantage"). */
export function inputRefusals(read: string[], allowed: Set<string>, what: string, where: string): string[] {
  const bad = read.filter((n) => !allowed.has(n) && !(where === "estimator" && n === "group"));
  // Groups reach the loss only through group-level values, which a verl micro-batch cannot hold whole.
  return bad.map((n) => `${what} reads \`${n}\`: ${WHY[n] ?? "an input verl does not provide"}`);
}

/** Pipeline-level refusals: features with no verl counterpart in this exporter. */
export function featureRefusals(p: Pipeline): string[] {
  const out: string[] = [];
  if (p.attribution?.judge.kind === "model") out.push(`\`attribution ${p.attribution.measure} { judge model ... }\`: verl runs no third model besides the actor and the reference; judge with \`policy\` or \`initial\``);
  if (p.optimizer.kind !== "adamw") out.push(`optimizer ${p.optimizer.kind}: the verl export maps AdamW only`);
  if (p.optimizer.schedule === "linear") out.push("optimizer schedule linear: verl's lr_scheduler_type offers constant and cosine");
  if (p.rollout.prompts % p.optimizer.minibatches !== 0) out.push(`optimizer minibatches ${p.optimizer.minibatches} does not divide rollout prompts ${p.rollout.prompts}: verl's ppo_mini_batch_size counts whole prompts`);
  for (const s of p.stages) out.push(...stageRefusals(s));
  return out;
}

function stageRefusals(s: Stage): string[] {
  const out: string[] = [];
  const where = `stage ${s.name} (${at(s.until.span)})`;
  if (s.sampling.kind !== "all") out.push(`${where}: \`sample ${s.sampling.kind}\` has no counterpart among verl's trainer settings (DAPO's group filter lives in a verl recipe); remove it to export`);
  return out;
}

/** N of `until steps >= N` (the common stop condition, counted without stepping); null otherwise. */
export function stepsBudget(e: Expr): number | null {
  if (e.kind !== "binary" || e.op !== ">=") return null;
  if (e.left.kind !== "name" || e.left.name !== "steps" || e.right.kind !== "number") return null;
  return e.right.value;
}

export interface KlMapping {
  type: "kl" | "mse" | "low_var_kl";
  coef: number;
}

const VERL_KL: Record<string, KlMapping["type"]> = { k1: "kl", k2: "mse", k3: "low_var_kl" };

/**
 * The stage's KL term as verl's use_kl_loss settings: `c * kN` or `kN * c` (c a number or
 * a param), or `kN`. Null when the stage has none (`kl 0` or no `kl`); a string (the
 * refusal) for any other form.
 */
export function klMapping(p: Pipeline, s: Stage): KlMapping | null | string {
  const e = s.kl;
  if (e === null || (e.kind === "number" && e.value === 0)) return null;
  const est = (x: Expr) => (x.kind === "name" && x.ref?.kind === "builtin" && x.name in VERL_KL ? VERL_KL[x.name]! : null);
  const num = (x: Expr): number | null => {
    if (x.kind === "number") return x.value;
    if (x.kind === "name" && x.ref?.kind === "param") return p.params.find((q) => q.name === x.name)?.value ?? null;
    return null;
  };
  if (est(e)) return { type: est(e)!, coef: 1 };
  if (e.kind === "binary" && e.op === "*") {
    for (const [a, b] of [[e.left, e.right], [e.right, e.left]] as const) {
      const t = est(b);
      const c = num(a);
      if (t && c !== null) return { type: t, coef: c };
    }
  }
  return `stage ${s.name} (${at(e.span)}): \`kl\` must be \`c * k1|k2|k3\` (c a number or param) to map to verl's KL loss (use_kl_loss, kl_loss_coef, kl_loss_type)`;
}
