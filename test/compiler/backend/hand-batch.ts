// Hand-made batches for the credit-path tests: one group of responses with chosen per-token
// log-probs, and the check that the compiled kernels agree with the float64 interpreter
// on every token column, the logits gradient and the summary.
import { expect } from "vitest";
import { generateStage } from "../../../compiler/codegen/index.js";
import { TOK_COLUMNS } from "../../../compiler/codegen/layout.js";
import { StageRunner } from "../../../compiler/codegen/runner.js";
import { releaseInputs, uploadBatch } from "../../../compiler/codegen/upload.js";
import type { Pipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { interpretStage, type StageResult } from "../../../compiler/interpret/stage.js";
import { SUMMARY_FIELDS } from "../../../compiler/interpret/summary.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { testGpu } from "../../helpers/gpu.js";
import { expectClose } from "../../helpers/numeric.js";

/**
 * One group of responses of lengths `lens`, response tokens from slot 0, one step each; the
 * per-token arrays list the response tokens in order (response 0 first).
 */
export function handBatch(rewards: number[], lens: number[], tok: { logp: number[]; old: number[]; ref?: number[]; H?: number[] }, seed = 0): Batch {
  const B = rewards.length;
  const T = Math.max(...lens);
  const N = B * T;
  const stepIdx = new Int32Array(N).fill(-1);
  const slots: number[] = [];
  lens.forEach((L, i) => {
    for (let t = 0; t < L; t++) {
      stepIdx[i * T + t] = 0;
      slots.push(i * T + t);
    }
  });
  const spread = (xs: number[] | undefined) => {
    const out = new Float64Array(N);
    slots.forEach((n, j) => (out[n] = xs ? xs[j]! : 0));
    return out;
  };
  return {
    B, T, S: 1, nGroups: 1, group: new Int32Array(B), reward: Float64Array.from(rewards),
    correct: Float64Array.from(rewards, (r) => +(r > 0)), format: Float64Array.from(rewards, (r) => +(r >= 0)), length: Float64Array.from(lens), stepIdx,
    ids: new Int32Array(N), oldLogp: spread(tok.old), refLogp: tok.ref ? spread(tok.ref) : null,
    C: new Float64Array(B), stepLength: Float64Array.from(lens), stepEntropy: new Float64Array(B),
    V: 0, temperature: 1, logits: null, logp: spread(tok.logp), H: spread(tok.H), steps: 0, totalSteps: 0, seed,
  };
}

/** Response-token values of a per-slot column, in handBatch order. */
export function responseValues(b: Batch, col: Float64Array | Float32Array): number[] {
  const out: number[] = [];
  for (let n = 0; n < b.B * b.T; n++) if (b.stepIdx[n]! >= 0) out.push(col[n]!);
  return out;
}

/** The stage on the GPU; every token column, dlogits and the summary must match the interpreter. */
export async function onGpu(p: Pipeline, b: Batch, what: string, params?: Record<string, number>): Promise<StageResult> {
  const prog = lowerStage(p, p.stages[0]!);
  const gpu = await testGpu();
  const runner = new StageRunner(gpu, generateStage(prog));
  await runner.compile();
  const inp = uploadBatch(gpu, b);
  if (params) inp.params = params;
  const out = runner.run(inp);
  const ref = interpretStage(prog, b, { params });
  const N = b.B * b.T;
  const tok = await runner.readTokens(out, N);
  for (const c of TOK_COLUMNS) expectClose(tok[c], ref.tokens[c], 2e-6, 2e-5, `${what}: ${c}`);
  if (ref.dlogits) expectClose((await gpu.read(out.dlogits!)).subarray(0, N * b.V), ref.dlogits, 1e-7, 1e-4, `${what}: dlogits`);
  const s = await runner.readSummary(out);
  for (const f of SUMMARY_FIELDS) expectClose([s[f]], [ref.summary[f]], 2e-6, 2e-5, `${what}: summary.${f}`);
  runner.release(out);
  releaseInputs(gpu, inp);
  return ref;
}

