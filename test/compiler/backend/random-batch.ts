// Random batches for the back-end tests: irregular sizes, prompt tokens before each
// response, padding after it, steps of uneven length, rewards with ties inside groups.
import type { Batch } from "../../../compiler/interpret/batch.js";
import { rng } from "../../helpers/numeric.js";

export interface BatchShape {
  groups: number;
  perGroup: number;
  T: number;
  V: number;
  /** Max steps per response (1: every response token is in step 0). */
  S: number;
  logits?: boolean;
  /** Rollout temperature the logits are read at (default 1). */
  temperature?: number;
}

export function randomBatch(shape: BatchShape, seed: number): Batch {
  const r = rng(seed);
  const { groups, perGroup, T, V, S } = shape;
  const B = groups * perGroup;
  const N = B * T;
  const group = new Int32Array(B);
  const reward = new Float64Array(B);
  const correct = new Float64Array(B);
  const length = new Float64Array(B);
  const stepIdx = new Int32Array(N).fill(-1);
  const C = new Float64Array(B * S);
  const stepLength = new Float64Array(B * S);
  const stepEntropy = new Float64Array(B * S);
  for (let i = 0; i < B; i++) {
    // Interleave groups so membership is by id, not by position.
    group[i] = (i * 7 + 3) % groups;
    const ok = r() < 0.5;
    correct[i] = ok ? 1 : 0;
    reward[i] = ok ? 1 : r() < 0.5 ? 0 : 0.25;
    const start = 1 + Math.floor(r() * 3);
    const len = Math.max(1, Math.min(T - start, 2 + Math.floor(r() * (T - start - 1))));
    length[i] = len;
    const nSteps = Math.max(1, Math.min(S, len, 1 + Math.floor(r() * S)));
    // Step k covers [cut_k, cut_{k+1}): sorted distinct cuts after 0.
    const cuts = [0];
    while (cuts.length < nSteps) {
      const c = 1 + Math.floor(r() * (len - 1));
      if (!cuts.includes(c)) cuts.push(c);
    }
    cuts.sort((a, b) => a - b);
    for (let t = 0; t < len; t++) {
      let s = 0;
      while (s + 1 < cuts.length && t >= cuts[s + 1]!) s++;
      stepIdx[i * T + start + t] = s;
      stepLength[i * S + s]!++;
    }
    for (let s = 0; s < nSteps; s++) {
      C[i * S + s] = (r() - 0.4) * 0.6;
      stepEntropy[i * S + s] = r() * 2;
    }
  }
  const ids = new Int32Array(N);
  const oldLogp = new Float64Array(N);
  const refLogp = new Float64Array(N);
  let logits: Float64Array | null = null;
  const logp = new Float64Array(N);
  const H = new Float64Array(N);
  if (shape.logits !== false) {
    logits = new Float64Array(N * V);
    for (let i = 0; i < N * V; i++) logits[i] = Math.fround((r() * 2 - 1) * 2);
  }
  for (let n = 0; n < N; n++) {
    ids[n] = Math.floor(r() * V);
    oldLogp[n] = Math.fround(-0.3 - r() * 2.5);
    refLogp[n] = Math.fround(-0.3 - r() * 2.5);
    logp[n] = Math.fround(-0.3 - r() * 2.5);
    H[n] = Math.fround(r() * 2);
  }
  return {
    // format: every correct response, and two of three others (no extra draws: the stream stays as it was).
    B, T, S, nGroups: groups, group, reward, correct, format: correct.map((c, i) => (c || i % 3 !== 0 ? 1 : 0)), length, stepIdx, ids, oldLogp, refLogp,
    // step_reward: 0 for every third used step slot, else 1 (no extra draws either).
    C, stepLength, stepEntropy, stepReward: stepLength.map((l, j) => (l > 0 && j % 3 === 1 ? 0 : 1)),
    // Monte-Carlo values: multiples of 1/4 (K = 4 rewards in {0, 1}), no draws.
    mcValue: stepLength.map((_, j) => ((j * 7) % 5) / 4), mcNext: stepLength.map((_, j) => ((j * 3 + 1) % 5) / 4),
    // Judge scores: log-probabilities in [-3, 0], no draws.
    judgeScore: stepLength.map((_, j) => -((j * 5) % 7) / 2), V, temperature: shape.temperature ?? 1, logits, logp: logits ? null : logp, H: logits ? null : H,
    steps: 3, totalSteps: 7, seed: seed >>> 0,
  };
}
