// The transformer's attention mode per batch shape (runtime/engine/ops/attention-mode.ts): on a
// device whose binding limit is lowered below a small model's (B, Hq, T, T) probabilities, it
// runs the recompute attention (no T x T buffer anywhere), and its loss, log-probs and every
// weight gradient equal the saved-P path's on the unlowered device.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { lmBatch, lmLossStep } from "../../runtime/engine/model/lm-loss.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { savedProbabilityBytes } from "../../runtime/engine/ops/attention-mode.js";
import { rangedTestGpu, testGpu } from "../helpers/gpu.js";
import { qwen2Config } from "../helpers/models.js";
import { expectClose, randInts } from "../helpers/numeric.js";

const V = 61;
const config = qwen2Config(V, 32, 64);
// Two right-padded rows of up to 44 tokens: att is 2 x 4 x 43 x 43 floats = 59,168 bytes.
const seqs = [Array.from(randInts(44, 3, V)), Array.from(randInts(29, 4, V))];
const batch = lmBatch(seqs, [0, 5]);
const LIMIT = 40_000;
const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** One loss step on `gpu`: the attention mode, log-probs and every weight gradient. */
async function step(gpu: Gpu) {
  const model = new Transformer(gpu, new GpuWeights(gpu, config, initWeights(config, 7)));
  model.weights.zeroGrads();
  const s = lmLossStep(gpu, model, batch);
  const logp = await gpu.read(s.logp);
  s.release();
  const grads = new Map<string, Float32Array>();
  for (const [name, g] of model.weights.grads) grads.set(name, await gpu.read(g));
  const mode = model.attentionMode(batch.B, batch.T);
  model.release();
  model.weights.release();
  return { mode, logp, grads };
}

describe("attention mode by binding limit", () => {
  it("a batch whose probabilities do not bind trains through recompute, equal to the saved-P path", async () => {
    expect(savedProbabilityBytes({ B: batch.B, T: batch.T, Hq: config.numHeads })).toBeGreaterThan(LIMIT);
    const saved = await step(await testGpu());
    const recompute = await step(await rangedTestGpu(LIMIT));
    expect(saved.mode).toBe("saved");
    expect(recompute.mode).toBe("recompute");
    expectClose(recompute.logp, saved.logp, 1e-5, 1e-5, "logp");
    expect([...recompute.grads.keys()]).toEqual([...saved.grads.keys()]);
    // Different fp32 summation orders (delta = dout . out, online softmax) through 2 layers of backward.
    for (const [name, g] of saved.grads) expectClose(recompute.grads.get(name)!, g, 1e-5 * maxAbs(g), 1e-4, `grad ${name}`);
  });
});
