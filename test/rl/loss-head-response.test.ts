// The update's LM head runs on response slots only (runtime/loop/rl/response-rows.ts,
// loss-head.ts): hidden rows at prompt and padding slots are never read — NaN there changes
// no output, no gradient bit — and the hidden gradient there is exactly 0. Before, every slot
// went through the head (70 % of a quickstart batch's slots are prompt tokens), and a NaN row
// made its dlogits, hence the head's gradient, NaN.
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { generateStage } from "../../compiler/codegen/index.js";
import { StageRunner } from "../../compiler/codegen/runner.js";
import { releaseInputs, uploadBatch } from "../../compiler/codegen/upload.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { headRowStats, LmHeadStream } from "../../runtime/engine/model/lm-head.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import type { GpuBatch } from "../../runtime/loop/rl/batch.js";
import { lossHeadOnHidden, targetLogpChunked } from "../../runtime/loop/rl/loss-head.js";
import { responseRows } from "../../runtime/loop/rl/response-rows.js";
import { randomBatch } from "../compiler/backend/random-batch.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray, randInts } from "../helpers/numeric.js";
import { qwen2Config } from "../helpers/models.js";

const bits = async (gpu: Gpu, t: Parameters<Gpu["read"]>[0]) => Array.from(new Uint32Array((await gpu.read(t)).buffer));

describe("the update's LM head on response slots only", () => {
  it("never reads prompt or padding rows of the hidden states, and gives them a zero gradient", async () => {
    const gpu = await testGpu();
    const p = loadPipeline("examples/grpo.acpo").pipeline!;
    const runner = new StageRunner(gpu, generateStage(lowerStage(p, p.stages[0]!)));
    const c = qwen2Config(301, 32, 64, true);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 3)));
    const rb = randomBatch({ groups: 2, perGroup: 3, T: 13, V: c.vocabSize, S: 3, logits: false, temperature: 0.7 }, 17);
    const inp = uploadBatch(gpu, rb);
    gpu.release(inp.policy);
    delete inp.policy;
    const N = rb.B * rb.T, C = c.hiddenSize;
    const tstep = new Int32Array((await gpu.readU32(inp.tstep)).buffer);
    const b = {
      B: rb.B, T: rb.T, S: rb.S, NG: rb.nGroups, inputs: gpu.upload(randInts(N, 24, c.vocabSize)), targets: inp.ids,
      pos: gpu.upload(Uint32Array.from({ length: N }, (_, i) => i % rb.T)), tstep: inp.tstep, seq: inp.seq, steps: inp.steps!,
      response: responseRows(gpu, tstep, await gpu.readU32(inp.ids)),
    } as unknown as GpuBatch;
    const M = b.response.M;
    expect(M).toBeGreaterThan(0);
    expect(M).toBeLessThan(0.6 * N); // the batch has prompt and padding slots to skip
    model.forwardHidden(b.inputs, b.pos, b.B, b.T); // hiddenGrad() needs a forward
    const finite = randArray(N * C, 5);
    const poisoned = Float32Array.from(finite, (x, i) => (tstep[Math.floor(i / C)]! >= 0 ? x : NaN));
    const run = async (hiddenHost: Float32Array) => {
      model.weights.zeroGrads();
      const hidden = gpu.upload(hiddenHost, [N, C], "hidden");
      const out = lossHeadOnHidden(gpu, model, runner, b, { ...inp, dims: { B: rb.B, T: rb.T, S: rb.S, NG: rb.nGroups, V: c.vocabSize }, temperature: 0.7 }, hidden);
      const r = { tok: await bits(gpu, out.tok), summary: await bits(gpu, out.summary), dhidden: await gpu.read(model.hiddenGrad()), head: await bits(gpu, model.weights.grad("model.embed_tokens.weight")) };
      runner.release(out);
      gpu.release(hidden);
      return r;
    };
    const a = await run(finite), z = await run(poisoned);
    expect(z.tok).toEqual(a.tok);
    expect(z.summary).toEqual(a.summary);
    expect(z.head).toEqual(a.head);
    expect(Array.from(z.dhidden)).toEqual(Array.from(a.dhidden));
    for (let n = 0; n < N; n++) {
      const row = Array.from(a.dhidden.subarray(n * C, (n + 1) * C));
      if (tstep[n]! < 0) expect(row.every((x) => Object.is(x, 0)), `slot ${n}`).toBe(true);
      else expect(row.some((x) => x !== 0), `slot ${n}`).toBe(true);
    }
    // Old and reference log-probs: the head's log p of every slot (as before) at response slots, 0 at the others.
    const lp = await gpu.read(targetLogpChunked(gpu, model, b, 0.7, "ref logp"));
    const head = new LmHeadStream(gpu, model, N), every = gpu.empty([N], "every slot's logp");
    headRowStats(gpu, head, model.forwardHidden(b.inputs, b.pos, b.B, b.T), b.targets, { logp: every, temperature: 0.7 });
    const want = Array.from(await gpu.read(every), (x, n) => (tstep[n]! < 0 ? 0 : x));
    expectClose(lp, want, 1e-6, 1e-6, "ref logp");
    expect(lp.filter((x, n) => tstep[n]! >= 0 && x < 0)).toHaveLength(M);
    head.release();

    releaseInputs(gpu, inp);
    b.response.release();
    model.release();
  });
});
