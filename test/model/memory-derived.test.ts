// The memory plan's activation and backward-scratch rows (runtime/engine/model/memory.ts) are
// what the transformer really allocates: measured as the bytes the Gpu holds after a forward
// and after the backward scratch is made, on the architectures the layer body distinguishes.
import { describe, expect, it } from "vitest";
import { type Gpu, bucketBytes } from "../../runtime/engine/gpu.js";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { layerBody, normRows, ownedSlots } from "../../runtime/engine/model/layer-body.js";
import { activationBuffers, backwardBuffers } from "../../runtime/engine/model/memory.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { rangedTestGpu, testGpu } from "../helpers/gpu.js";

const config = (architecture: string): ModelConfig =>
  parseConfig({
    architectures: [architecture], vocab_size: 37, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 3,
    num_attention_heads: 6, num_key_value_heads: 2, head_dim: 4, max_position_embeddings: 64,
  });

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Bytes the Gpu holds after forwardHidden, and then after the backward scratch is made. */
async function measured(gpu: Gpu, c: ModelConfig, B: number, T: number): Promise<{ forward: number; scratch: number; mode: string }> {
  const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 3)));
  const ids = gpu.upload(new Uint32Array(B * T).map((_, i) => (i * 5) % c.vocabSize), [B * T], "ids");
  const pos = gpu.upload(new Uint32Array(B * T).map((_, i) => i % T), [B * T], "pos");
  try {
    const before = gpu.memory.live;
    model.forwardHidden(ids, pos, B, T);
    const afterForward = gpu.memory.live;
    model.hiddenGrad();
    return { forward: afterForward - before, scratch: gpu.memory.live - afterForward, mode: model.attentionMode(B, T) };
  } finally {
    model.release();
    model.weights.release();
    gpu.release(ids, pos);
  }
}

describe("the memory plan derives the activations from the layer body", () => {
  it("owned slots leave out `out` and the residual branches; a head norm keeps one 1/rms per head", () => {
    const qwen3 = config("Qwen3ForCausalLM");
    const body = layerBody(qwen3, 0);
    expect(ownedSlots(body)).toEqual(["resid", "ln1", "qPre", "kPre", "v", "q", "k", "attOut", "resid2", "ln2", "gate", "up", "mlp"]);
    const norms = body.flatMap((b) => (b.kind === "norm" || b.kind === "headNorm" ? [normRows(qwen3, b, 10)] : []));
    // input norm, q_norm (6 heads), k_norm (2 heads), post-attention norm, over 10 tokens.
    expect(norms).toEqual([10, 60, 20, 10]);
  });

  it.each([["Llama", "LlamaForCausalLM"], ["Qwen2", "Qwen2ForCausalLM"], ["Qwen3 (q/k norms)", "Qwen3ForCausalLM"]])(
    "%s: bytes held after forwardHidden and after the backward scratch equal the plan's rows",
    async (_, architecture) => {
      const c = config(architecture);
      const B = 3, T = 7;
      const got = await measured(await testGpu(), c, B, T);
      expect(got.mode).toBe("saved");
      expect(got.forward).toBe(sum(activationBuffers(c, B, T)));
      expect(got.scratch).toBe(sum(backwardBuffers(c, B, T)));
    },
  );

  it("recompute attention (its probabilities do not bind): the log-sum-exp and delta rows, no T x T buffer", async () => {
    // att would be 2 x 6 x 40 x 40 floats = 76,800 bytes; every other buffer binds under 32 KiB.
    const c = config("Qwen2ForCausalLM"), B = 2, T = 40, limit = 32_768;
    const got = await measured(await rangedTestGpu(limit), c, B, T);
    expect(got.mode).toBe("recompute");
    expect(got.forward).toBe(sum(activationBuffers(c, B, T, limit)));
    expect(got.scratch).toBe(sum(backwardBuffers(c, B, T, limit)));
    // The saved-P plan of the same batch holds att per layer and datt: 4 x 76,800 bytes more, less lse and delta.
    const savedPlan = sum(activationBuffers(c, B, T)) + sum(backwardBuffers(c, B, T));
    expect(savedPlan - got.forward - got.scratch).toBe(4 * (bucketBytes(76_800) - bucketBytes(4 * 2 * 6 * 40)));
  });
});
