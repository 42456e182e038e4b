// The GPU inputs of a StageRunner (runner.ts lists each tensor), packed from batch rows
// (interpret/batch-rows.ts) by the one path that the training step (runtime/loop/rl/batch.ts
// buildBatch) and replay (plan/replay.ts, through uploadRows) both take, so the two cannot
// disagree: packRows lays the rows' token, sequence and step inputs out as the bytes the GPU
// receives, uploadPacked uploads them. The two callers differ only in where a row's response
// tokens lie (TokenSlots): after its prompt in the training step's right-padded rows, from
// slot 0 in replay.
//
// uploadBatch uploads a hand-made interpreter Batch as it is laid out, for the tests that
// feed one Batch to both the kernels and the interpreter; nothing outside tests and benches
// uploads a Batch.
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import type { Batch } from "../interpret/batch.js";
import { type BatchCounters, type BatchRow, placeRows, responseSlots, type RowPolicy, seqColumns, stepColumns, stepSlots, type TokenSlots, tokenSteps } from "../interpret/batch-rows.js";
import { type Dims, K_SEQ, K_STP } from "./layout.js";
import { packSequences, packSteps, type StageInputs } from "./runner.js";

/** The batch inputs of the stage kernels as the bytes the GPU receives (N = B*T slots); the policy comes apart. */
export interface PackedInputs {
  dims: Dims;
  ids: Uint32Array; // (N) each response token at its slot, 0 elsewhere
  tstep: Int32Array; // (N) the token's step, -1 outside the response
  oldLogp: Float32Array; // (N) the rows' oldLogp, 0 outside the response
  /** (N) the sampler's log-probs: a row's rolloutLogp where recorded apart, else its oldLogp (packRows); null when a Batch has none. */
  rolloutLogp: Float32Array | null;
  seq: Float32Array; // (B, K_SEQ) SEQ_COLUMNS
  steps: Float32Array; // (B*S, K_STP) STEP_COLUMNS
}

/** The rows' kernel inputs with each row's response tokens at `slots`: the one packing of rows. */
export function packRows(rows: readonly BatchRow[], slots: TokenSlots): PackedInputs & { rolloutLogp: Float32Array; groupIds: number[] } {
  const B = rows.length, T = slots.T, N = B * T;
  const S = stepSlots(rows);
  const { values: seq, groupIds } = seqColumns(rows);
  const p = {
    dims: { B, T, S, NG: groupIds.length },
    ids: new Uint32Array(N),
    tstep: new Int32Array(N).fill(-1),
    oldLogp: new Float32Array(N),
    rolloutLogp: new Float32Array(N),
    seq: packSequences(seq),
    steps: packSteps(stepColumns(rows, S).values),
    groupIds,
  };
  placeRows(rows.map((r) => r.tokens), slots, 1, p.ids);
  placeRows(rows.map((r) => tokenSteps(r.steps, r.tokens.length)), slots, 1, p.tstep);
  placeRows(rows.map((r) => r.oldLogp), slots, 1, p.oldLogp);
  placeRows(rows.map((r) => r.rolloutLogp ?? r.oldLogp), slots, 1, p.rolloutLogp);
  return p;
}

/** The packed inputs that become tensors, each with its label. */
const PACKED_TENSORS = { ids: "ids", tstep: "tstep", oldLogp: "old_logp", rolloutLogp: "rollout_logp", seq: "seq", steps: "steps" } as const;
export type PackedTensor = keyof typeof PACKED_TENSORS;
export const ALL_PACKED: readonly PackedTensor[] = Object.keys(PACKED_TENSORS) as PackedTensor[];

/** The GPU tensors of the packed inputs `which` (the caller releases them), shaped as runner.ts lists them. */
export function uploadPacked<K extends PackedTensor>(gpu: Gpu, p: PackedInputs, which: readonly K[]): Record<K, Tensor> {
  const { B, T, S } = p.dims;
  const shape = (k: PackedTensor) => (k === "seq" ? [B, K_SEQ] : k === "steps" ? [B * S, K_STP] : [B * T]);
  const out = {} as Record<K, Tensor>;
  for (const k of which) {
    const data = p[k];
    if (data === null) throw new Error(`uploadPacked: the batch has no ${k}`);
    out[k] = gpu.upload(data, shape(k), PACKED_TENSORS[k]);
  }
  return out;
}

/** The policy's per-token inputs at `slots`: logits (N, V), or [logp, H] (N, 2); refLogp (N) when given. */
export function packPolicy(policy: RowPolicy, slots: TokenSlots, B: number): { V: number; logits: Float32Array | null; policy: Float32Array | null; refLogp: Float32Array | null } {
  const N = B * slots.T;
  const refLogp = policy.refLogp ? new Float32Array(N) : null;
  if (refLogp) placeRows(policy.refLogp!, slots, 1, refLogp);
  if ("logits" in policy) {
    const logits = new Float32Array(N * policy.V);
    placeRows(policy.logits.map((rows) => rows.flat()), slots, policy.V, logits);
    return { V: policy.V, logits, policy: null, refLogp };
  }
  const pol = new Float32Array(N * 2);
  placeRows(policy.logp.map((l, b) => Array.from(l, (x, t) => [x, policy.H[b]![t]!]).flat()), slots, 2, pol);
  return { V: 0, logits: null, policy: pol, refLogp };
}

/** Replay's inputs: the rows (a batch file's) with their response tokens from slot 0, and the recorded policy. */
export function uploadRows(gpu: Gpu, rows: readonly BatchRow[], policy: RowPolicy, counters: BatchCounters, temperature: number): StageInputs {
  const slots = responseSlots(rows);
  const packed = packRows(rows, slots);
  const pol = packPolicy(policy, slots, rows.length);
  return withPolicy(gpu, { dims: { ...packed.dims, V: pol.V }, ...uploadPacked(gpu, packed, ALL_PACKED), counters, temperature }, pol);
}

/** `inp` with the policy tensors of `pol` uploaded. */
function withPolicy(gpu: Gpu, inp: StageInputs, pol: ReturnType<typeof packPolicy>): StageInputs {
  const N = inp.dims.B * inp.dims.T;
  if (pol.logits) inp.logits = gpu.upload(pol.logits, [N, pol.V], "logits");
  if (pol.policy) inp.policy = gpu.upload(pol.policy, [N, 2], "policy");
  if (pol.refLogp) inp.refLogp = gpu.upload(pol.refLogp, [N], "ref_logp");
  return inp;
}

/** A hand-made interpreter Batch as it is laid out (tests and benches; see the file comment). */
export function uploadBatch(gpu: Gpu, b: Batch): StageInputs {
  const N = b.B * b.T;
  const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
  const packed: PackedInputs = {
    dims: { B: b.B, T: b.T, S: b.S, NG: b.nGroups },
    ids: Uint32Array.from(b.ids, (x) => Math.max(0, x)),
    tstep: Int32Array.from(b.stepIdx),
    oldLogp: f32(b.oldLogp),
    rolloutLogp: b.rolloutLogp ? f32(b.rolloutLogp) : null,
    seq: packSequences({ r: b.reward, correct: b.correct, length: b.length, group: b.group, format: b.format }),
    steps: packSteps({ C: b.C, length: b.stepLength, entropy: b.stepEntropy, reward: b.stepReward ?? nan(b), mcValue: b.mcValue ?? nan(b), mcNext: b.mcNext ?? nan(b), judge: b.judgeScore ?? nan(b) }),
  };
  const inp: StageInputs = { dims: { ...packed.dims, V: b.V }, ...uploadPacked(gpu, packed, ALL_PACKED.filter((k) => packed[k] !== null)), counters: { steps: b.steps, totalSteps: b.totalSteps, seed: b.seed }, temperature: b.temperature };
  const pol = new Float32Array(b.logits ? 0 : N * 2);
  if (!b.logits) for (let n = 0; n < N; n++) pol.set([b.logp![n]!, b.H![n]!], 2 * n);
  return withPolicy(gpu, inp, { V: b.V, logits: b.logits ? f32(b.logits) : null, policy: b.logits ? null : pol, refLogp: b.refLogp ? f32(b.refLogp) : null });
}

export function releaseInputs(gpu: Gpu, inp: StageInputs): void {
  const ts: (Tensor | undefined)[] = [inp.logits, inp.policy, inp.ids, inp.tstep, inp.oldLogp, inp.refLogp, inp.rolloutLogp, inp.seq, inp.steps];
  gpu.release(...ts);
}

/** A step column the batch does not have (the stage does not read it): NaN per step slot. */
function nan(b: Batch): Float64Array {
  return new Float64Array(b.B * b.S).fill(NaN);
}
