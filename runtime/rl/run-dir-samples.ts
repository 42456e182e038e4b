// samples.jsonl lines: trajectories in the format of spec/batch.md ("samples.jsonl"), so
// `acpo replay FILE.acpo --batch samples.jsonl` can rerun a recorded step. The loop hands
// over its Trajectory objects and the current policy's per-token log p and entropy at the
// optimizer step (and ref_logp when the stage has a reference); this file maps them to lines.
import type { Trajectory } from "./types.js";

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

/**
 * First token of each step: the segmentation's boundaries without the final end (b_K = L),
 * or [0] (one step) when the pipeline does not segment. Boundaries equal to L (an empty
 * last step) are dropped so every start lies inside the response.
 */
export function stepStarts(t: Trajectory): number[] {
  const L = t.responseIds.length;
  if (!t.segmentation) return [0];
  const starts = t.segmentation.boundaries.filter((b, i) => b < L && (i === 0 || b > t.segmentation!.boundaries[i - 1]!));
  return starts.length > 0 && starts[0] === 0 ? starts : [0, ...starts];
}

/** Mean of `values` over each step [starts[k], starts[k+1]) of a response of L tokens. */
export function stepMeans(values: ArrayLike<number>, starts: readonly number[], L: number): number[] {
  return starts.map((s, k) => {
    const end = k + 1 < starts.length ? starts[k + 1]! : L;
    let sum = 0;
    for (let i = s; i < end; i++) sum += values[i]!;
    return end > s ? sum / (end - s) : NaN;
  });
}

/**
 * Attribution per step, K entries: the trajectory's C (scored reasoning steps) padded with 0
 * for the steps attribution does not score (the answer step), as the batch format's default
 * C is 0. Null when attribution is off (C = []).
 */
export function stepC(t: Trajectory, K: number): number[] | null {
  if (t.C.length === 0) return null;
  if (t.C.length > K) throw new Error(`samples: trajectory has ${t.C.length} attribution scores but ${K} steps`);
  return [...t.C, ...new Array<number>(K - t.C.length).fill(0)];
}

/**
 * The step checker's rewards, K entries (one per stepStarts step), or null when the task has
 * none. Throws when the count disagrees (rollout computes them over the same steps).
 */
export function stepRewards(t: Trajectory, K: number): number[] | null {
  if (t.stepRewards === undefined) return null;
  if (t.stepRewards.length !== K) throw new Error(`samples: trajectory has ${t.stepRewards.length} step rewards but ${K} steps`);
  return t.stepRewards;
}

/** Monte-Carlo values, K entries (one per stepStarts step), or null without mc_rollouts. Throws when the count disagrees. */
export function mcValues(t: Trajectory, K: number): number[] | null {
  if (t.mcValues === undefined) return null;
  if (t.mcValues.length !== K) throw new Error(`samples: trajectory has ${t.mcValues.length} Monte-Carlo values but ${K} steps`);
  return t.mcValues;
}

/** Judge scores, K entries (one per stepStarts step), or null without a judge. Throws when the count disagrees. */
export function judgeScores(t: Trajectory, K: number): number[] | null {
  if (t.judgeScores === undefined) return null;
  if (t.judgeScores.length !== K) throw new Error(`samples: trajectory has ${t.judgeScores.length} judge scores but ${K} steps`);
  return t.judgeScores;
}

function tokenArray(name: string, a: ArrayLike<number>, L: number): number[] {
  if (a.length !== L) throw new Error(`samples: ${name} has ${a.length} entries, the response has ${L} tokens`);
  return Array.from(a);
}

/** The samples.jsonl line of one trajectory. Throws when an array's length disagrees (a loop bug). */
export function sampleLine(t: Trajectory, cur: CurrentTokens, at: { step: number; stage: string; promptRendered?: string }): SampleLine {
  const L = t.responseIds.length;
  const starts = stepStarts(t);
  const C = stepC(t, starts.length);
  const line: SampleLine = {
    group: t.group,
    reward: t.verdict.reward,
    correct: t.verdict.correct,
    tokens: [...t.responseIds],
    old_logp: tokenArray("old_logp", t.oldLogp, L),
    logp: tokenArray("logp", cur.logp, L),
    entropy: tokenArray("entropy", cur.entropy, L),
    old_entropy: tokenArray("old_entropy", t.entropies, L),
    step_starts: starts,
    step_entropy: stepMeans(t.entropies, starts, L),
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
  if (C) line.C = C;
  const rewards = stepRewards(t, starts.length);
  if (rewards) line.step_reward = rewards;
  const mc = mcValues(t, starts.length);
  if (mc) line.mc_value = mc;
  const judged = judgeScores(t, starts.length);
  if (judged) line.judge_score = judged;
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
