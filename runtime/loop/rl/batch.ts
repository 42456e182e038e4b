// The trajectories of one optimizer step as the GPU tensors the model and the compiled
// stage kernels read (StageRunner, through compiler/plan/artifact.ts): a view of the step's
// CPU batch (step-batch.ts). The kernels' inputs are packed by packRows
// (compiler/codegen/upload.ts), the one packing of batch rows, which replay uses too.
// Token slot n = b * T + t holds input token seq_b[t] and target seq_b[t+1], seq_b = prompt
// + response, right-padded (model/padded-batch.ts); the logits row at slot n scores the
// target, so per-token quantities live on target slots.
// When rows share prompts (an RL step always has G rows per prompt), the batch also carries the
// shared-prefix layout (model/shared-rows.ts) in which the policy runs each prompt once
// (loss-head.ts policyHidden); ACPO_UPDATE_WHOLE_ROWS=1 runs whole rows instead, for comparison.
import { packRows, uploadPacked } from "../../../compiler/plan/artifact.js";
import type { Gpu } from "../../engine/gpu.js";
import { nextTokenSlots, paddedRows, type PaddedRows } from "../../engine/model/padded-batch.js";
import { type SharedRows, sharedRowsPlan, uploadSharedRows } from "../../engine/model/shared-rows.js";
import type { Tensor } from "../../engine/tensor.js";
import { type ResponseRows, responseRows } from "./response-rows.js";
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
  /** The slots with tstep >= 0, where the LM head runs (response-rows.ts). */
  response: ResponseRows;
  /** The shared-prefix layout of the rows, null when no two rows share a prompt (or ACPO_UPDATE_WHOLE_ROWS=1). */
  shared: SharedRows | null;
  /** Rollout log-probs of the targets (B*T), 0 outside the response. */
  rolloutLogp: Float32Array;
  /** Response tokens in the batch. */
  responseTokens: number;
  release(): void;
}

export function buildBatch(gpu: Gpu, of: StepBatch | readonly Trajectory[]): GpuBatch {
  const { trajs, rows } = stepBatchOf(of);
  const seqs = trajs.map((t) => [...t.promptIds, ...t.responseIds]);
  const padded = paddedRows(seqs, nextTokenSlots(seqs));
  // Response token 0 is the target of the prompt's last slot; the kernels' ids are the
  // targets, which at every response slot are the packed ids.
  const packed = packRows(rows, { T: padded.T, first: trajs.map((t) => t.promptIds.length - 1) });
  const { B, T, S, NG } = packed.dims;
  const tensors = {
    inputs: gpu.upload(padded.ids, [B * T], "batch inputs"),
    targets: gpu.upload(padded.targets, [B * T], "batch targets"),
    pos: gpu.upload(padded.pos, [B * T], "batch positions"),
    ...uploadPacked(gpu, packed, ["tstep", "seq", "steps"] as const),
  };
  const responseTokens = rows.reduce((n, r) => n + r.tokens.length, 0);
  const response = responseRows(gpu, packed.tstep, padded.targets);
  const shared = sharedLayout(gpu, padded, trajs);
  const release = () => { gpu.release(...Object.values(tensors)); response.release(); shared?.release(); };
  return { B, T, S, NG, ...tensors, response, shared, rolloutLogp: packed.rolloutLogp, responseTokens, release };
}

/**
 * The shared-prefix layout of the padded rows: each row shares its prompt's slots but the last
 * (that slot's target is the row's first response token) and computes its slots up to its last
 * target. Null where it would save nothing (every prompt distinct) or when the environment asks
 * for whole rows (ACPO_UPDATE_WHOLE_ROWS=1, read here only).
 */
function sharedLayout(gpu: Gpu, padded: PaddedRows, trajs: readonly Trajectory[]): SharedRows | null {
  if (process.env.ACPO_UPDATE_WHOLE_ROWS === "1") return null;
  const prefix = trajs.map((t) => Math.max(t.promptIds.length - 1, 0)); // (B)
  const slots = trajs.map((t, b) => Math.max(Math.min(t.promptIds.length + t.responseIds.length - 1, padded.T), prefix[b]!)); // (B)
  const plan = sharedRowsPlan(padded, prefix, slots);
  return plan.U < plan.B && plan.N > 0 ? uploadSharedRows(gpu, plan) : null;
}
