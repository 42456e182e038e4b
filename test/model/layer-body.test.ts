// The layer body (runtime/engine/model/layer-body.ts): the one description of a decoder layer that the
// full forward, its backward and the KV-cache decoder follow. Here: it reads exactly the
// parameters the config implies (so a new weight in layout.ts without a sub-block that reads
// it fails), its order per architecture, and the decoder's fused runs found in it. That both
// drivers compute what they did before is the model tests' part (transformer.test.ts against
// the reference and finite differences, decoder-fused.test.ts, generate*.test.ts).
import { describe, expect, it } from "vitest";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { Decoder } from "../../runtime/engine/model/decoder.js";
import { EMBEDDING, FINAL_NORM, layerBody, slotsOf, weightsOf } from "../../runtime/engine/model/layer-body.js";
import { parameterSpecs } from "../../runtime/engine/model/layout.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { testGpu } from "../helpers/gpu.js";

const config = (architecture: string, extra: Record<string, unknown> = {}): ModelConfig =>
  parseConfig({
    architectures: [architecture], vocab_size: 31, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4, max_position_embeddings: 32, ...extra,
  });

const CONFIGS: [string, ModelConfig][] = [
  ["Llama", config("LlamaForCausalLM")],
  ["Llama with attention_bias (q, k, v and o)", config("LlamaForCausalLM", { attention_bias: true })],
  ["Qwen2 (q, k, v biases)", config("Qwen2ForCausalLM")],
  ["Qwen3 with attention_bias (q/k norms)", config("Qwen3ForCausalLM", { attention_bias: true })],
];

describe("the layer body", () => {
  it.each(CONFIGS)("%s: reads every per-layer parameter the config implies, each once", (_, c) => {
    const names = parameterSpecs(c).map((s) => s.name);
    for (let l = 0; l < c.numLayers; l++) {
      const read = weightsOf(layerBody(c, l), (module) => names.includes(`${module}.bias`));
      expect(new Set(read).size, `layer ${l}`).toBe(read.length);
      expect([...read].sort(), `layer ${l}`).toEqual(names.filter((n) => n.startsWith(`model.layers.${l}.`)).sort());
    }
    expect(names).toContain(EMBEDDING);
    expect(names).toContain(FINAL_NORM);
  });

  it("Llama projects q, k, v straight into RoPE; Qwen3 normalises each head of q and k in between", () => {
    const kinds = (c: ModelConfig) => layerBody(c, 0).map((b) => b.kind);
    const after = ["rope", "attention", "project", "residual", "norm", "project", "swiglu", "project", "residual"];
    expect(kinds(CONFIGS[0]![1])).toEqual(["norm", "project", ...after]);
    expect(kinds(CONFIGS[3]![1])).toEqual(["norm", "project", "headNorm", "headNorm", ...after]);
    expect(slotsOf(layerBody(CONFIGS[3]![1], 1))).toEqual(["resid", "ln1", "qPre", "kPre", "v", "q", "k", "attOut", "o", "resid2", "ln2", "gate", "up", "mlp", "down", "out"]);
    expect(layerBody(CONFIGS[3]![1], 1)[2]).toEqual({ kind: "headNorm", x: "qPre", out: "q", weight: "model.layers.1.self_attn.q_norm.weight" });
  });

  it.each([
    ["Llama", true, CONFIGS[0]![1]],
    ["Llama with attention_bias", true, CONFIGS[1]![1]],
    ["Qwen2", true, CONFIGS[2]![1]],
    ["Qwen3 (q/k norms between the projections and RoPE)", false, CONFIGS[3]![1]],
  ] as const)("%s: the decoder packs q|k|v (%s) only where the body runs them straight into RoPE and attention; gate|up always", async (_, qkv, c) => {
    const gpu = await testGpu();
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 1)));
    const dec = new Decoder(gpu, model, { pack: true, fuseNorm: false });
    expect([dec.packQkv, dec.packGu]).toEqual([qkv, true]);
    expect(model.bodies.map((b) => b.length)).toEqual(Array(c.numLayers).fill(c.qkNorm ? 13 : 11));
    dec.release();
    model.release();
  });
});
