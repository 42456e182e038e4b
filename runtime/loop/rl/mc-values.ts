// Monte-Carlo step values (VinePPO: Kazemnejad et al., arXiv 2410.01679): the value of a
// reasoning step's start state is estimated by sampling K continuations of the prompt and
// the response before the step, and averaging their verifier rewards:
//     V(s_k) = (1/K) sum_j r(prompt + o[0 : b_k] + continuation_j)
// where b_k is step k's first token (stepStarts: step 0 starts at 0, so V(s_0) is a fresh
// rollout's mean reward). The batch derives mc_next (V where the step ends: the next step's
// value, the response's own reward for the last step) from these (batch.ts, stepTable).
//
// Continuations reuse the generator (runtime/engine/model/generate.ts) with the prefixes as its
// prompts, at the rollout's temperature, top-p and top-k, and keep the response's token
// budget: a continuation of a prefix with b_k response tokens has at most
// max_tokens - b_k tokens (generated under one limit per call, then cut: sampling is
// left to right, so cutting is the same as stopping there).
import type { Rollout as RolloutConfig } from "../../../compiler/index.js";
import { generate } from "../../engine/model/generate.js";
import type { Policy } from "../../engine/model/policy.js";
import type { Task } from "../../engine/tasks/types.js";
import { stepStarts } from "./step-batch.js";
import type { Trajectory } from "./types.js";

/** Most continuation rows sampled in one generate call (bounds the KV cache). */
const ROWS_PER_CALL = 256;

interface Row {
  traj: number;
  step: number;
  /** Response tokens already in the prefix (b_k). */
  start: number;
  prefix: number[];
}

/** Every continuation row: K per step of every trajectory, sorted by prefix length (so a call's rows share their window). */
export function mcRows(trajs: readonly Trajectory[], K: number): Row[] {
  const rows: Row[] = [];
  trajs.forEach((t, i) => {
    stepStarts(t).forEach((start, k) => {
      const prefix = [...t.promptIds, ...t.responseIds.slice(0, start)];
      for (let j = 0; j < K; j++) rows.push({ traj: i, step: k, start, prefix });
    });
  });
  return rows.sort((a, b) => a.prefix.length - b.prefix.length || a.traj - b.traj || a.step - b.step);
}

/** Rows split into generate calls whose window (longest prefix + largest budget) fits the model's positions. */
export function mcCalls(rows: readonly Row[], maxTokens: number, maxPositions: number): Row[][] {
  const calls: Row[][] = [];
  let cur: Row[] = [];
  let longest = 0, budget = 0;
  for (const r of rows) {
    const l = Math.max(longest, r.prefix.length), b = Math.max(budget, maxTokens - r.start);
    if (cur.length > 0 && (cur.length >= ROWS_PER_CALL || l + b > maxPositions)) {
      calls.push(cur);
      cur = [];
    }
    if (cur.length === 0) [longest, budget] = [r.prefix.length, maxTokens - r.start];
    else [longest, budget] = [l, b];
    cur.push(r);
  }
  if (cur.length > 0) calls.push(cur);
  return calls;
}

/** Mean of `rewards` per (trajectory, step), in stepStarts order; `rows[i]` earned `rewards[i]`. */
export function mcMeans(trajs: readonly Trajectory[], rows: readonly Row[], rewards: readonly number[]): number[][] {
  const sums = trajs.map((t) => stepStarts(t).map(() => ({ sum: 0, n: 0 })));
  rows.forEach((r, i) => {
    const cell = sums[r.traj]![r.step]!;
    cell.sum += rewards[i]!;
    cell.n++;
  });
  return sums.map((steps) => steps.map((c) => (c.n > 0 ? c.sum / c.n : NaN)));
}

/**
 * Sets each trajectory's mcValues: K continuations per step prefix, verified by `task`.
 * `seed` seeds the generator (one stream per call, derived from it).
 */
export async function mcValues(policy: Policy, task: Task, trajs: Trajectory[], cfg: RolloutConfig, K: number, seed: number): Promise<void> {
  const rows = mcRows(trajs, K);
  const rewards = new Array<number>(rows.length);
  const calls = mcCalls(rows, cfg.maxTokens, policy.config.maxPositions);
  let done = 0;
  for (const [c, call] of calls.entries()) {
    const budget = Math.max(...call.map((r) => cfg.maxTokens - r.start));
    const g = await generate(policy, call.map((r) => r.prefix), {
      maxNewTokens: budget, temperature: cfg.temperature, topP: cfg.topP, topK: cfg.topK, seed: (seed + c * 0x9e3779b1) >>> 0,
    });
    call.forEach((r, i) => {
      const t = trajs[r.traj]!;
      const cont = g.tokens[i]!.slice(0, cfg.maxTokens - r.start);
      const text = policy.tokenizer.decode([...t.responseIds.slice(0, r.start), ...cont], true);
      rewards[done + i] = task.verify(t.problem, text).reward;
    });
    done += call.length;
  }
  mcMeans(trajs, rows, rewards).forEach((v, i) => (trajs[i]!.mcValues = v));
}
