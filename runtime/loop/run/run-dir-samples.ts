// samples.jsonl lines: trajectories in the format of spec/batch.md ("samples.jsonl"), so
// `acpo replay FILE.acpo --batch samples.jsonl` can rerun a recorded step. The loop hands
// over its Trajectory objects, their rows of the step's CPU batch (step-batch.ts) and the
// current policy's per-token log p and entropy at the optimizer step (and ref_logp when the
// stage has a reference); this file maps them to lines.
import type { BatchRow } from "../../../compiler/plan/artifact.js";
import { batchRow } from "../rl/step-batch.js";
import type { Trajectory } from "../rl/types.js";

/** One samples.jsonl line. Field names are the batch format's; `step` onward are extras replay ignores. */
export interface SampleLine {
  group: number;
  reward: number;
  correct: boolean;
  tokens: number[]; // (L) response token ids
  old_logp: number[]; // (L) sampling policy
  ref_logp?: number[]; // (L) the stage's reference, when it has one
  logp: number[]; // (L) current policy at the optimizer step
  entropy: number[]; // (L) current policy's entropy (nats)
  old_entropy: number[]; // (L) sampling policy's entropy (nats)
  step_starts: number[]; // (K) first token of each reasoning step
  C?: number[]; // (K) attribution per step, when attribution is on
  step_entropy: number[]; // (K) mean old_entropy over the step
  step_reward?: number[]; // (K) the task's step checker's reward per step, when the task has one
  mc_value?: number[]; // (K) Monte-Carlo value of each step's start, when the pipeline samples mc_rollouts
  judge_score?: number[]; // (K) the judge model's verdict log-probability after each step, when the pipeline has a judge
  step: number;
  stage: string;
  problem: string;
  prompt: string;
  /** The prompt exactly as the policy saw it (chat template, special tokens), when known. */
  prompt_rendered?: string;
  text: string;
  answer: string | null;
  reason: string;
}

/** The current policy's view of one trajectory at the optimizer step; each (L). */
export interface CurrentTokens {
  logp: ArrayLike<number>;
  entropy: ArrayLike<number>;
  refLogp?: ArrayLike<number> | null;
}

function tokenArray(name: string, a: ArrayLike<number>, L: number): number[] {
  if (a.length !== L) throw new Error(`samples: ${name} has ${a.length} entries, the response has ${L} tokens`);
  return Array.from(a);
}

/**
 * The samples.jsonl line of one trajectory: its batch row's step table (`row`, from the step's
 * CPU batch; derived here when not given) as step_starts, C, step_entropy and the given step
 * values. Throws when an array's length disagrees (a loop bug).
 */
export function sampleLine(t: Trajectory, cur: CurrentTokens, at: { step: number; stage: string; promptRendered?: string }, row: BatchRow = batchRow(t)): SampleLine {
  const L = t.responseIds.length;
  const steps = row.steps;
  const line: SampleLine = {
    group: t.group,
    reward: t.verdict.reward,
    correct: t.verdict.correct,
    tokens: [...t.responseIds],
    old_logp: tokenArray("old_logp", t.oldLogp, L),
    logp: tokenArray("logp", cur.logp, L),
    entropy: tokenArray("entropy", cur.entropy, L),
    old_entropy: tokenArray("old_entropy", t.entropies, L),
    step_starts: steps.starts,
    step_entropy: steps.entropy,
    step: at.step,
    stage: at.stage,
    problem: t.problem.id,
    prompt: t.problem.prompt,
    ...(at.promptRendered !== undefined ? { prompt_rendered: at.promptRendered } : {}),
    text: t.text,
    answer: t.verdict.answer,
    reason: t.verdict.reason,
  };
  if (cur.refLogp) line.ref_logp = tokenArray("ref_logp", cur.refLogp, L);
  if (t.C.length > 0) line.C = steps.C; // attribution on: every step, 0 for the unscored answer step
  if (steps.reward) line.step_reward = steps.reward;
  if (steps.mcValue) line.mc_value = steps.mcValue;
  if (steps.judge) line.judge_score = steps.judge;
  return line;
}

/**
 * Which trajectories to record: whole prompt groups in batch order until at least `count`
 * are taken (whole groups, so a replay of the lines sees each group's advantages as the
 * step did). Responses with no tokens are left out: the batch format needs L >= 1 and
 * they carry no token loss. Returns indices into `trajs`.
 */
export function pickSamples(trajs: readonly Trajectory[], count: number): number[] {
  const order: number[] = [];
  for (const t of trajs) if (!order.includes(t.group)) order.push(t.group);
  const out: number[] = [];
  for (const g of order) {
    if (out.length >= count) break;
    trajs.forEach((t, i) => {
      if (t.group === g && t.responseIds.length > 0) out.push(i);
    });
  }
  return out;
}
