// A CPU batch (interpret/batch.ts) as the GPU inputs of a StageRunner: what replay and the
// tests use. The training loop builds the same tensors from its own buffers.
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import type { Batch } from "../interpret/batch.js";
import { K_SEQ, K_STP } from "./layout.js";
import { packSequences, packSteps, type StageInputs } from "./runner.js";

export function uploadBatch(gpu: Gpu, b: Batch): StageInputs {
  const N = b.B * b.T;
  const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
  const inp: StageInputs = {
    dims: { B: b.B, T: b.T, S: b.S, NG: b.nGroups, V: b.V },
    ids: gpu.upload(Uint32Array.from(b.ids, (x) => Math.max(0, x)), [N], "ids"),
    tstep: gpu.upload(Int32Array.from(b.stepIdx), [N], "tstep"),
    oldLogp: gpu.upload(f32(b.oldLogp), [N], "old_logp"),
    seq: gpu.upload(packSequences({ r: b.reward, correct: b.correct, length: b.length, group: b.group, format: b.format }), [b.B, K_SEQ], "seq"),
    steps: gpu.upload(packSteps({ C: b.C, length: b.stepLength, entropy: b.stepEntropy, reward: b.stepReward ?? nan(b), mcValue: b.mcValue ?? nan(b), mcNext: b.mcNext ?? nan(b), judge: b.judgeScore ?? nan(b) }), [b.B * b.S, K_STP], "steps"),
    counters: { steps: b.steps, totalSteps: b.totalSteps, seed: b.seed },
    temperature: b.temperature,
  };
  if (b.refLogp) inp.refLogp = gpu.upload(f32(b.refLogp), [N], "ref_logp");
  if (b.rolloutLogp) inp.rolloutLogp = gpu.upload(f32(b.rolloutLogp), [N], "rollout_logp");
  if (b.logits) inp.logits = gpu.upload(f32(b.logits), [N, b.V], "logits");
  else {
    const pol = new Float32Array(N * 2);
    for (let n = 0; n < N; n++) pol.set([b.logp![n]!, b.H![n]!], 2 * n);
    inp.policy = gpu.upload(pol, [N, 2], "policy");
  }
  return inp;
}

export function releaseInputs(gpu: Gpu, inp: StageInputs): void {
  const ts: (Tensor | undefined)[] = [inp.logits, inp.policy, inp.ids, inp.tstep, inp.oldLogp, inp.refLogp, inp.rolloutLogp, inp.seq, inp.steps];
  gpu.release(...ts);
}

/** A step column the batch does not have (the stage does not read it): NaN per step slot. */
function nan(b: Batch): Float64Array {
  return new Float64Array(b.B * b.S).fill(NaN);
}
