// The RL loss head with the LM head in row chunks (runtime/loop/rl/loss-head.ts) against the fused
// logits-mode loss head (compiler/codegen/loss-head.ts) on whole logits: same per-token columns,
// summary and every weight gradient, on small vocabularies where both fit, for pipelines
// whose loss reads the entropy (dH), a KL to a reference, and a reduction over the current
// policy (GSPO's sequence ratio, the prepass). Then one update at vocabulary 151,936 with
// 2,048 tokens, with the peak of live buffer bytes.
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { generateStage } from "../../compiler/codegen/index.js";
import { StageRunner } from "../../compiler/codegen/runner.js";
import { releaseInputs, uploadBatch } from "../../compiler/codegen/upload.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import type { Pipeline } from "../../compiler/pipeline.js";
import { bucketBytes, type Gpu } from "../../runtime/engine/gpu.js";
import { activationBuffers, backwardBuffers } from "../../runtime/engine/model/memory.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import type { GpuBatch } from "../../runtime/loop/rl/batch.js";
import { lossHeadChunked } from "../../runtime/loop/rl/loss-head.js";
import { responseRows } from "../../runtime/loop/rl/response-rows.js";
import { randomBatch } from "../compiler/backend/random-batch.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randInts } from "../helpers/numeric.js";
import { qwen2Config } from "../helpers/models.js";

function pipeline(file: string, edit?: (p: Pipeline) => Pipeline): Pipeline {
  const p = loadPipeline(file).pipeline!;
  return edit ? edit(p) : p;
}

const grpoEntropy = (p: Pipeline): Pipeline => ({ ...p, loss: { ...p.loss, aggregate: "token_mean", entropyBonus: 0.03 } });

/** A minibatch of random structure (prompt, steps, padding) for `model`, plus the runner's inputs. */
async function makeBatch(gpu: Gpu, groups: number, perGroup: number, T: number, V: number, temperature: number, seed: number) {
  const rb = randomBatch({ groups, perGroup, T, V, S: 3, logits: false, temperature }, seed);
  const inp = uploadBatch(gpu, rb);
  gpu.release(inp.policy);
  delete inp.policy;
  const N = rb.B * rb.T;
  const b = {
    B: rb.B, T: rb.T, S: rb.S, NG: rb.nGroups,
    inputs: gpu.upload(randInts(N, seed + 7, V)), targets: inp.ids, pos: gpu.upload(Uint32Array.from({ length: N }, (_, i) => i % rb.T)),
    tstep: inp.tstep, seq: inp.seq, steps: inp.steps!,
    response: responseRows(gpu, new Int32Array((await gpu.readU32(inp.tstep)).buffer), await gpu.readU32(inp.ids)),
  } as unknown as GpuBatch;
  return { b, inp };
}

async function grads(gpu: Gpu, model: Transformer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, g] of model.weights.grads) out.set(name, await gpu.read(g));
  return out;
}

describe("chunked RL loss head vs the fused loss head on whole logits", () => {
  it.each([
    ["GRPO + entropy bonus, KL to a reference, T = 0.7, tied head", "examples/grpo.acpo", grpoEntropy, 0.7, true],
    ["GSPO (sequence ratio: a reduction over the current policy), untied head", "examples/gspo.acpo", undefined, 1, false],
  ] as const)("%s", async (_what, file, edit, temperature, tie) => {
    const gpu = await testGpu();
    const p = pipeline(file, edit);
    const runner = new StageRunner(gpu, generateStage(lowerStage(p, p.stages[0]!)));
    const c = qwen2Config(301, 32, 64, tie);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 3)));
    const { b, inp } = await makeBatch(gpu, 2, 3, 13, c.vocabSize, temperature, 17);
    const N = b.B * b.T;
    // Fused: whole logits, the compiled loss head writes dlogits, the model's full backward.
    model.weights.zeroGrads();
    const fused = runner.run({ ...inp, logits: model.forward(b.inputs, b.pos, b.B, b.T) });
    model.backward(fused.dlogits!);
    const gFused = await grads(gpu, model);
    // Chunked: 5-row chunks (N = 78: 16 chunks, the last of 3 rows).
    model.weights.zeroGrads();
    const chunked = lossHeadChunked(gpu, model, runner, b, inp, 5 * 4 * c.vocabSize);
    const gChunked = await grads(gpu, model);
    expect(chunked.dlogits).toBeNull();
    const tf = await runner.readTokens(fused, N), tc = await runner.readTokens(chunked, N);
    for (const col of Object.keys(tf) as (keyof typeof tf)[]) expectClose(tc[col], tf[col], 2e-6, 1e-4, `tok ${col}`);
    const sf = await runner.readSummary(fused), sc = await runner.readSummary(chunked);
    for (const k of Object.keys(sf) as (keyof typeof sf)[]) expectClose([sc[k]], [sf[k]], 1e-6, 1e-4, `summary ${k}`);
    for (const [name, g] of gFused) {
      const scale = Math.max(...g.map(Math.abs));
      expect(scale, name).toBeGreaterThan(0);
      expectClose(gChunked.get(name)!, g, 1e-5 * scale, 1e-4, `grad ${name}`);
    }
    runner.release(fused);
    runner.release(chunked);
    releaseInputs(gpu, inp);
    gpu.release(b.inputs, b.pos);
    b.response.release();
    model.release();
    model.weights.release();
  });
});

describe("RL update at vocabulary 151,936", () => {
  it("2,048 tokens (16 responses x 128 slots): finite loss and gradients; peak live bytes = activations + backward scratch + two logits chunks + the transposed head gradient + small vectors", async () => {
    const gpu = await testGpu();
    const p = pipeline("examples/grpo.acpo", grpoEntropy);
    const runner = new StageRunner(gpu, generateStage(lowerStage(p, p.stages[0]!)));
    const c = qwen2Config(151936, 32, 256, false);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 5)));
    model.weights.zeroGrads();
    const { b, inp } = await makeBatch(gpu, 4, 4, 128, c.vocabSize, 1, 23);
    await gpu.sync();
    gpu.resetPeak();
    const before = gpu.memory.live;
    const out = lossHeadChunked(gpu, model, runner, b, inp);
    const s = await runner.readSummary(out);
    const peak = gpu.memory.peakLive - before;
    expect(Number.isFinite(s.loss)).toBe(true);
    const head = await gpu.read(model.weights.grad("lm_head.weight"));
    expect(head.every(Number.isFinite) && head.some((x) => x !== 0)).toBe(true);
    const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
    // The head runs on the response slots only (response-rows.ts): a chunk holds 110 rows, or all of them when fewer.
    const R = Math.min(110, b.response.M);
    expect(b.response.M).toBeGreaterThan(0);
    const fixed = sum(activationBuffers(c, 16, 128)) + sum(backwardBuffers(c, 16, 128)) + 2 * bucketBytes(R * 4 * c.vocabSize) + bucketBytes(32 * 4 * c.vocabSize);
    console.log(`RL minibatch N=2048 V=151936: peak live ${peak} bytes (activations+scratch+2 chunks+head dW^T ${fixed}); whole logits+dlogits would be ${2 * 2048 * 151936 * 4}`);
    expect(peak).toBeGreaterThanOrEqual(fixed);
    expect(peak).toBeLessThan(fixed + 4 * 2 ** 20);
    runner.release(out);
    releaseInputs(gpu, inp);
    model.release();
  }, 900_000);
});
