// The trajectories of one optimizer step as the GPU tensors the model and the compiled
// stage kernels read (StageRunner, through compiler/plan/artifact.ts). Token slot
// n = b * T + t holds input token seq_b[t] and target seq_b[t+1], seq_b = prompt + response,
// right-padded; the logits row at slot n scores the target, so per-token quantities live
// on target slots.
import { K_SEQ, K_STP, packSequences, packSteps } from "../../compiler/plan/artifact.js";
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { judgeScores, mcValues, stepC, stepMeans, stepRewards, stepStarts } from "./run-dir-samples.js";
import type { Trajectory } from "./types.js";

export interface GpuBatch {
  B: number;
  T: number;
  /** Step slots per response (max steps over the batch, >= 1). */
  S: number;
  /** Number of prompt groups (group ids are 0..NG-1). */
  NG: number;
  inputs: Tensor; // (B*T) u32 input tokens
  targets: Tensor; // (B*T) u32 the token each slot scores
  pos: Tensor; // (B*T) u32 positions
  tstep: Tensor; // (B*T) i32 step index of the target token, -1 outside the response
  seq: Tensor; // (B, 5) r, correct, length, group, format
  steps: Tensor; // (B*S, K_STP) STEP_COLUMNS: C, length, mean rollout entropy, step reward, mc_value, mc_next, judge_score
  /** Rollout log-probs of the targets (B*T), 0 outside the response. */
  rolloutLogp: Float32Array;
  /** Response tokens in the batch. */
  responseTokens: number;
  release(): void;
}

/**
 * One trajectory's step table, derived once for every view of the step's batch (the GPU
 * tensors here, the interpreter's batch in until.ts; samples.jsonl lines use the same
 * stepStarts): step k is response tokens [starts[k], starts[k] + lengths[k]). A response
 * without segmentation is one step; an empty response has one step of length 0, whose
 * entropy is 0. C holds the attribution scores, 0 for the steps attribution does not score;
 * reward the task's step checker's rewards (NaN when the task has none: the checker refuses
 * `step_reward` then, so no kernel reads it).
 */
export interface StepTable {
  starts: number[];
  lengths: number[];
  /** Mean rollout entropy of each step (0 for an empty step). */
  entropy: number[];
  C: number[];
  reward: number[];
  /** Monte-Carlo value at each step's start, and at its end (the next step's; the response's reward for the last); NaN without mc_rollouts. */
  mcValue: number[];
  mcNext: number[];
  /** The judge's verdict log-probability after each step; NaN without a judge. */
  judge: number[];
}

export function stepTable(t: Trajectory): StepTable {
  const L = t.responseIds.length;
  const starts = stepStarts(t);
  const lengths = starts.map((s, k) => (k + 1 < starts.length ? starts[k + 1]! : L) - s);
  const entropy = stepMeans(t.entropies, starts, L).map((m, k) => (lengths[k]! > 0 ? m : 0));
  const mcValue = mcValues(t, starts.length) ?? starts.map(() => NaN);
  const mcNext = starts.map((_, k) => (k + 1 < starts.length ? mcValue[k + 1]! : t.mcValues ? t.verdict.reward : NaN));
  return { starts, lengths, entropy, C: stepC(t, starts.length) ?? starts.map(() => 0), reward: stepRewards(t, starts.length) ?? starts.map(() => NaN), mcValue, mcNext, judge: judgeScores(t, starts.length) ?? starts.map(() => NaN) };
}

export function buildBatch(gpu: Gpu, trajs: Trajectory[]): GpuBatch {
  const B = trajs.length;
  const T = Math.max(...trajs.map((t) => t.promptIds.length + t.responseIds.length)) - 1;
  const stats = trajs.map(stepTable);
  const S = Math.max(1, ...stats.map((s) => s.starts.length));
  // Group ids as 0..NG-1 in order of first appearance.
  const groupIndex = new Map<number, number>();
  for (const t of trajs) if (!groupIndex.has(t.group)) groupIndex.set(t.group, groupIndex.size);
  const inputs = new Uint32Array(B * T), targets = new Uint32Array(B * T), pos = new Uint32Array(B * T);
  const tstep = new Int32Array(B * T).fill(-1);
  const rolloutLogp = new Float32Array(B * T);
  const C = new Float32Array(B * S), stepLen = new Float32Array(B * S), stepEnt = new Float32Array(B * S), stepRew = new Float32Array(B * S);
  const mcValue = new Float32Array(B * S), mcNext = new Float32Array(B * S), judge = new Float32Array(B * S);
  let responseTokens = 0;
  trajs.forEach((tr, b) => {
    const seq = [...tr.promptIds, ...tr.responseIds];
    const P = tr.promptIds.length;
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = seq[t] ?? 0;
      targets[b * T + t] = seq[t + 1] ?? 0;
      pos[b * T + t] = t;
    }
    const st = stats[b]!;
    for (let i = 0; i < tr.responseIds.length; i++) {
      const slot = b * T + P - 1 + i; // the slot whose target is response token i
      let k = 0;
      while (k + 1 < st.starts.length && st.starts[k + 1]! <= i) k++;
      tstep[slot] = k;
      rolloutLogp[slot] = tr.oldLogp[i]!;
    }
    st.starts.forEach((_, k) => {
      C[b * S + k] = st.C[k]!;
      stepLen[b * S + k] = st.lengths[k]!;
      stepEnt[b * S + k] = st.entropy[k]!;
      stepRew[b * S + k] = st.reward[k]!;
      mcValue[b * S + k] = st.mcValue[k]!;
      mcNext[b * S + k] = st.mcNext[k]!;
      judge[b * S + k] = st.judge[k]!;
    });
    responseTokens += tr.responseIds.length;
  });
  const seq = packSequences({
    r: trajs.map((t) => t.verdict.reward),
    correct: trajs.map((t) => (t.verdict.correct ? 1 : 0)),
    length: trajs.map((t) => t.responseIds.length),
    group: trajs.map((t) => groupIndex.get(t.group)!),
    format: trajs.map((t) => (t.verdict.answer !== null ? 1 : 0)), // the verifier found a complete answer
  });
  const tensors = {
    inputs: gpu.upload(inputs, [B * T], "batch inputs"),
    targets: gpu.upload(targets, [B * T], "batch targets"),
    pos: gpu.upload(pos, [B * T], "batch positions"),
    tstep: gpu.upload(tstep, [B * T], "batch tstep"),
    seq: gpu.upload(seq, [B, K_SEQ], "batch seq"),
    steps: gpu.upload(packSteps({ C, length: stepLen, entropy: stepEnt, reward: stepRew, mcValue, mcNext, judge }), [B * S, K_STP], "batch steps"),
  };
  return { B, T, S, NG: groupIndex.size, ...tensors, rolloutLogp, responseTokens, release: () => gpu.release(...Object.values(tensors)) };
}
