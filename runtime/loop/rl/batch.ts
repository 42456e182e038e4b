// The trajectories of one optimizer step as the GPU tensors the model and the compiled
// stage kernels read (StageRunner, through compiler/plan/artifact.ts): a view of the step's
// CPU batch (step-batch.ts), whose step tables it lays out without deriving them again.
// Token slot n = b * T + t holds input token seq_b[t] and target seq_b[t+1], seq_b = prompt
// + response, right-padded (model/padded-batch.ts); the logits row at slot n scores the
// target, so per-token quantities live on target slots.
import { K_SEQ, K_STP, packSequences, packSteps, seqColumns, stepColumns, stepSlots, tokenSteps } from "../../../compiler/plan/artifact.js";
import type { Gpu } from "../../engine/gpu.js";
import { nextTokenSlots, paddedRows } from "../../engine/model/padded-batch.js";
import type { Tensor } from "../../engine/tensor.js";
import { type StepBatch, stepBatchOf } from "./step-batch.js";
import type { Trajectory } from "./types.js";

export interface GpuBatch {
  B: number;
  T: number;
  /** Step slots per response (max steps over the batch, >= 1). */
  S: number;
  /** Number of prompt groups (group ids are 0..NG-1, in increasing Trajectory.group). */
  NG: number;
  inputs: Tensor; // (B*T) u32 input tokens
  targets: Tensor; // (B*T) u32 the token each slot scores
  pos: Tensor; // (B*T) u32 positions
  tstep: Tensor; // (B*T) i32 step index of the target token, -1 outside the response
  seq: Tensor; // (B, K_SEQ) SEQ_COLUMNS: r, correct, length, group, format
  steps: Tensor; // (B*S, K_STP) STEP_COLUMNS (compiler/codegen/layout.ts), from the rows' step tables
  /** Rollout log-probs of the targets (B*T), 0 outside the response. */
  rolloutLogp: Float32Array;
  /** Response tokens in the batch. */
  responseTokens: number;
  release(): void;
}

export function buildBatch(gpu: Gpu, of: StepBatch | readonly Trajectory[]): GpuBatch {
  const { trajs, rows } = stepBatchOf(of);
  const B = trajs.length;
  const seqs = trajs.map((t) => [...t.promptIds, ...t.responseIds]);
  const padded = paddedRows(seqs, nextTokenSlots(seqs));
  const T = padded.T;
  const S = stepSlots(rows);
  const { values: seq, groupIds } = seqColumns(rows);
  const tstep = new Int32Array(B * T).fill(-1);
  const rolloutLogp = new Float32Array(B * T);
  let responseTokens = 0;
  trajs.forEach((tr, b) => {
    const L = tr.responseIds.length;
    const steps = tokenSteps(rows[b]!.steps, L);
    const first = b * T + tr.promptIds.length - 1; // the slot whose target is response token 0
    for (let i = 0; i < L; i++) {
      tstep[first + i] = steps[i]!;
      rolloutLogp[first + i] = tr.oldLogp[i]!;
    }
    responseTokens += L;
  });
  const tensors = {
    inputs: gpu.upload(padded.ids, [B * T], "batch inputs"),
    targets: gpu.upload(padded.targets, [B * T], "batch targets"),
    pos: gpu.upload(padded.pos, [B * T], "batch positions"),
    tstep: gpu.upload(tstep, [B * T], "batch tstep"),
    seq: gpu.upload(packSequences(seq), [B, K_SEQ], "batch seq"),
    steps: gpu.upload(packSteps(stepColumns(rows, S).values), [B * S, K_STP], "batch steps"),
  };
  return { B, T, S, NG: groupIds.length, ...tensors, rolloutLogp, responseTokens, release: () => gpu.release(...Object.values(tensors)) };
}
