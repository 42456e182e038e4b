// A model whose embedding and LM head are larger than one storage binding (the real
// Qwen2.5-0.5B's tied 151,936 x 896 embedding is 544 MiB; lavapipe binds 128 MiB): the kernels
// that touch them run per vocabulary row range (gpu.ts bindingRanges). Here a device whose
// binding limit is lowered to LIMIT bytes splits a 1,009-token vocabulary into 3 ranges that do
// not divide it, and every result equals the whole-binding device's on the same weights.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { lmLossStep } from "../../runtime/engine/model/lm-loss.js";
import { AdamWOptimizer, ADAMW_DEFAULTS } from "../../runtime/engine/model/optimizer.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import type { Precision } from "../../runtime/engine/model/weights.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { rangedTestGpu, testGpu } from "../helpers/gpu.js";
import { qwen2Config } from "../helpers/models.js";
import { expectClose, randInts } from "../helpers/numeric.js";

const V = 1009;
const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const LIMIT = 50_000;
const rangedGpu = () => rangedTestGpu(LIMIT);

/** A random 2-layer Qwen2 folder with vocabulary V (weights scaled up so distributions are peaked). */
function modelDir(tie: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-ranges-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = qwen2Config(V, 32, 64, tie);
  saveCheckpoint(dir, { config, weights: initWeights(config, tie ? 3 : 4), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return dir;
}

/** Scores, one SFT step's loss and gradients, one AdamW step and a seeded sample, on one device. */
async function everything(gpu: Gpu, dir: string, precision: Precision, stepOn?: Map<string, Float32Array>) {
  const policy = Policy.load(gpu, dir, { precision });
  const B = 2, T = 9, N = B * T;
  const ids = randInts(N, 7, V), targets = randInts(N, 8, V);
  const seqs = [Array.from(ids.slice(0, T)), Array.from(ids.slice(T))];
  const scores = await policy.score(seqs);
  const batch = { B, T, ids, targets, pos: Uint32Array.from({ length: N }, (_, i) => i % T), mask: new Float32Array(N).fill(1) };
  policy.weights.zeroGrads();
  const step = lmLossStep(gpu, policy.model, batch);
  const logp = await gpu.read(step.logp);
  step.release();
  const grads = new Map<string, Float32Array>();
  for (const [name, g] of policy.weights.grads) grads.set(name, await gpu.read(g));
  // The optimizer step on given gradients (the other device's), so that it is compared on equal inputs.
  if (stepOn) for (const [name, g] of policy.weights.grads) gpu.write(g, stepOn.get(name)!);
  const opt = new AdamWOptimizer(gpu, policy.weights, { ...ADAMW_DEFAULTS, lr: 1e-2, weightDecay: 0.1 });
  opt.step();
  const params = await policy.weights.download();
  const gen = await generate(policy, [[5, 6, 7], [8]], { maxNewTokens: 6, temperature: 1, topP: 0.9, seed: 11, stopIds: [] });
  const ranges = { head: policy.model.headRanges().length };
  opt.release();
  policy.weights.release();
  return { scores, logp, grads, params, tokens: gen.tokens, genLogp: gen.logprobs, ranges };
}

// The f16 case: the head's f16 copy is bound in ranges too (its rows are half as wide, so the
// ranges keep both dtypes' offsets aligned), and the refresh after AdamW runs per range.
describe.each([
  [false, "f32"],
  [true, "f32"],
  [true, "f16"],
] as const)("vocabulary over 3 binding ranges, tied embedding %s, precision %s", (tie, precision) => {
  it("log-probs, entropies, loss, every weight gradient, one AdamW step and a seeded sample equal the whole-binding path", async () => {
    const dir = modelDir(tie);
    const whole = await everything(await testGpu(), dir, precision);
    const ranged = await everything(await rangedGpu(), dir, precision, whole.grads);
    expect(whole.ranges.head).toBe(1);
    expect(ranged.ranges.head).toBe(3);
    expectClose(ranged.scores.logprobs.flat(), whole.scores.logprobs.flat(), 1e-6, 1e-6, "score logprobs");
    expectClose(ranged.scores.entropies.flat(), whole.scores.entropies.flat(), 1e-6, 1e-6, "score entropies");
    expectClose(ranged.logp, whole.logp, 1e-6, 1e-6, "loss logp");
    expect([...ranged.grads.keys()]).toEqual([...whole.grads.keys()]);
    // The ranged head adds dx over 3 partial products and dW per logits chunk: fp32 sums in
    // another order, which backward through the norms and attention amplifies; measured against
    // each tensor's scale (element-wise relative errors reach 1e-3 where gradients cancel).
    for (const [name, g] of whole.grads) expectClose(ranged.grads.get(name)!, g, 1e-5 * maxAbs(g), 1e-4, `grad ${name}`);
    // AdamW on the same gradients; only the global norm's partial sums are split differently.
    for (const [name, p] of whole.params) expectClose(ranged.params.get(name)!.data, p.data, 1e-6, 1e-5, `param ${name} after AdamW`);
    expect(ranged.tokens).toEqual(whole.tokens);
    expectClose(ranged.genLogp.flat(), whole.genLogp.flat(), 1e-6, 1e-5, "sampled logp");
  });
});
