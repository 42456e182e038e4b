// The LM head streamed in row chunks (runtime/engine/model/lm-head.ts): results (scores, SFT gradients)
// equal the whole-matrix path where both fit, a 151,936-token vocabulary scores 2,048 tokens, and the buffers live at
// the peak stay bounded as N grows (gpu.memory, the pool's accounting).
import { describe, expect, it } from "vitest";
import { bucketBytes, type Gpu } from "../../runtime/engine/gpu.js";
import { activationBuffers } from "../../runtime/engine/model/memory.js";
import { headRowStats, LmHeadStream, logitsChunkRows, rowChunks } from "../../runtime/engine/model/lm-head.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { logprobsEntropyForward } from "../../runtime/engine/ops/logprobs-entropy.js";
import { logprobsBackward, logprobsForward } from "../../runtime/engine/ops/logprobs.js";
import { lmBatch, lmLossStep } from "../../runtime/engine/model/lm-loss.js";
import { testGpu } from "../helpers/gpu.js";
import { qwen2Config } from "../helpers/models.js";
import { expectClose, randInts } from "../helpers/numeric.js";

/** Upload (B, T) ids, positions and next-token targets of random sequences. */
function batch(gpu: Gpu, B: number, T: number, V: number, seed: number) {
  const ids = randInts(B * T, seed, V), targets = randInts(B * T, seed + 1, V);
  const pos = Uint32Array.from({ length: B * T }, (_, i) => i % T);
  return { ids: gpu.upload(ids), pos: gpu.upload(pos), targets: gpu.upload(targets), hostIds: ids, hostTargets: targets };
}

/** logp and H of every row through the chunked head with a budget of `budget` bytes. */
async function chunkedScore(gpu: Gpu, model: Transformer, b: ReturnType<typeof batch>, B: number, T: number, budget?: number) {
  const N = B * T;
  const hidden = model.forwardHidden(b.ids, b.pos, B, T);
  const logp = gpu.empty([N], "logp"), H = gpu.empty([N], "H");
  const head = new LmHeadStream(gpu, model, N, budget);
  const R = head.R;
  headRowStats(gpu, head, hidden, b.targets, { logp, H });
  head.release();
  const out = { logp: await gpu.read(logp), H: await gpu.read(H), R };
  gpu.release(logp, H);
  return out;
}

describe("chunk sizes", () => {
  it("fit half the binding limit and the budget, at least one row, at most N", () => {
    const lim = { maxStorageBufferBindingSize: 134217728, maxBufferSize: 2 ** 31 };
    // 64 MiB / (4 * 151936) = 110 rows; half the 128 MiB binding is also 64 MiB.
    expect(logitsChunkRows(lim, 151936, 2048)).toBe(110);
    expect(logitsChunkRows(lim, 151936, 2048, 2 ** 40)).toBe(110);
    expect(logitsChunkRows(lim, 151936, 2048, 1)).toBe(1);
    expect(logitsChunkRows(lim, 29, 5)).toBe(5);
    expect(() => logitsChunkRows({ maxStorageBufferBindingSize: 1000, maxBufferSize: 1000 }, 200, 4)).toThrow(
      "one row of logits (vocab_size 200: 800 bytes) exceeds half this device's maxStorageBufferBindingSize (1000)",
    );
    expect(rowChunks(10, 4)).toEqual([{ r0: 0, rows: 4 }, { r0: 4, rows: 4 }, { r0: 8, rows: 2 }]);
  });
});

describe("chunked LM head scoring", () => {
  it("equals the whole-logits path on a small vocabulary (7-row chunks over 3 x 11 rows)", async () => {
    const gpu = await testGpu();
    const c = qwen2Config(301, 32, 64);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 5)));
    const B = 3, T = 11, N = B * T, V = c.vocabSize;
    const b = batch(gpu, B, T, V, 9);
    const whole = model.forward(b.ids, b.pos, B, T);
    const logp = gpu.empty([N]), lse = gpu.empty([N]), H = gpu.empty([N]);
    logprobsEntropyForward(gpu, logp, lse, H, whole, b.targets, { N, V });
    const refLogp = await gpu.read(logp), refH = await gpu.read(H);
    const got = await chunkedScore(gpu, model, b, B, T, 7 * 4 * V);
    expect(got.R).toBe(7);
    expectClose(got.logp, refLogp, 1e-6, 1e-6, "logp");
    expectClose(got.H, refH, 1e-6, 1e-6, "entropy");
    model.release();
  });

  it("scores 2,048 tokens of a 151,936-token vocabulary; a 16-token prefix equals the whole-logits path; peak memory stays bounded", async () => {
    const gpu = await testGpu();
    const c = qwen2Config(151936);
    const V = c.vocabSize;
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 11)));
    const peakFor = async (B: number, T: number) => {
      const b = batch(gpu, B, T, V, 21);
      gpu.resetPeak();
      const before = gpu.memory.live;
      const r = await chunkedScore(gpu, model, b, B, T);
      const peak = gpu.memory.peakLive - before;
      model.release();
      gpu.release(b.ids, b.pos, b.targets);
      return { r, peak, b };
    };
    const small = await peakFor(1, 512);
    const big = await peakFor(4, 512);
    expect(big.r.R).toBe(110);
    expect(big.r.logp.every(Number.isFinite) && big.r.H.every(Number.isFinite)).toBe(true);
    // Entropy of a near-uniform random head is close to log V; never above it.
    for (const h of big.r.H) expect(h).toBeLessThanOrEqual(Math.log(V) + 1e-3);
    // The whole (2048, V) logits would take 1.24 GB. The peak is the forward activations
    // (memory.ts, the same shapes), one (110, V) logits chunk and per-row vectors (< 1 MiB).
    const chunk = bucketBytes(110 * 4 * V);
    const acts = (B: number) => activationBuffers(c, B, 512).reduce((a, x) => a + x, 0);
    console.log(`peak live bytes scoring N=512: ${small.peak}, N=2048: ${big.peak} (logits chunk ${chunk}, activations ${acts(1)} / ${acts(4)})`);
    for (const [r, B] of [[small, 1], [big, 4]] as const) {
      expect(r.peak).toBeGreaterThanOrEqual(chunk + acts(B));
      expect(r.peak).toBeLessThan(chunk + acts(B) + 2 ** 20);
    }
    // The first 16 tokens of row 0 scored alone, through the whole-logits path (16 x V fits).
    const T0 = 16;
    const ids0 = gpu.upload(big.b.hostIds.slice(0, T0)), pos0 = gpu.upload(Uint32Array.from({ length: T0 }, (_, i) => i));
    const tg0 = gpu.upload(big.b.hostTargets.slice(0, T0));
    const whole = model.forward(ids0, pos0, 1, T0);
    const logp = gpu.empty([T0]), lse = gpu.empty([T0]), H = gpu.empty([T0]);
    logprobsEntropyForward(gpu, logp, lse, H, whole, tg0, { N: T0, V });
    expectClose(big.r.logp.subarray(0, T0), await gpu.read(logp), 1e-5, 1e-5, "logp prefix");
    expectClose(big.r.H.subarray(0, T0), await gpu.read(H), 1e-5, 1e-5, "entropy prefix");
    model.release();
  }, 600_000);
});

describe("chunked LM head training (SFT next-token loss)", () => {
  it("lmLossStep over 4-row chunks gives the gradients of the whole-logits loss (irregular 2 x 9 batch, masked prompt)", async () => {
    const gpu = await testGpu();
    const c = qwen2Config(173, 32, 64, true);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 8)));
    const seqs = [[1, 5, 9, 33, 100, 7, 2, 170, 44, 3], [1, 60, 61, 62, 9]];
    const batch = lmBatch(seqs, [2, 1]);
    const N = batch.B * batch.T, V = c.vocabSize;
    // Whole logits: forward, logprobs, d(-mean logp), full backward.
    model.weights.zeroGrads();
    const count = batch.mask.reduce((a, m) => a + m, 0);
    const ids = gpu.upload(batch.ids), targets = gpu.upload(batch.targets), pos = gpu.upload(Uint32Array.from({ length: N }, (_, i) => i % batch.T));
    const logits = model.forward(ids, pos, batch.B, batch.T);
    const logp = gpu.empty([N]), lse = gpu.empty([N]), dlogits = gpu.empty([N, V]);
    logprobsForward(gpu, logp, lse, logits, targets, { N, V });
    logprobsBackward(gpu, dlogits, gpu.upload(Float32Array.from(batch.mask, (m) => -m / count)), logits, targets, lse, { N, V });
    model.backward(dlogits);
    const ref = new Map<string, Float32Array>();
    for (const [name, g] of model.weights.grads) ref.set(name, await gpu.read(g));
    const refLogp = await gpu.read(logp);
    // Chunked: 4 rows per chunk over N = 18 rows.
    model.weights.zeroGrads();
    const step = lmLossStep(gpu, model, batch, 4 * 4 * V);
    expectClose(await gpu.read(step.logp), refLogp, 1e-6, 1e-5, "logp");
    for (const [name, g] of ref) {
      const scale = Math.max(...g.map(Math.abs));
      expect(scale, name).toBeGreaterThan(0);
      expectClose(await gpu.read(model.weights.grad(name)), g, 1e-6 * scale, 1e-4, `grad ${name}`);
    }
    step.release();
    model.release();
  });
});
