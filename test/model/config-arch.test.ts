// config.json: Qwen3 and Llama 3 rope scaling are read; every other setting that would change
// the model's meaning is refused with a message naming the file and the key.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../runtime/engine/model/config.js";
import { parameterSpecs } from "../../runtime/engine/model/layout.js";
import { llama3InvFreq, ropeInvFreq } from "../../runtime/engine/ops/rope.js";

const BASE = {
  vocab_size: 50, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2,
  max_position_embeddings: 64,
};
const LLAMA3 = { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

describe("architectures in config.json", () => {
  it("Qwen3: q_norm/k_norm per head, head_dim of its own, biases only with attention_bias", () => {
    const c = parseConfig({ ...BASE, architectures: ["Qwen3ForCausalLM"], head_dim: 16, attention_bias: false, use_sliding_window: false, sliding_window: null });
    expect(c.qkNorm).toBe(true);
    expect(c.qkvBias).toBe(false);
    const names = parameterSpecs(c).map((s) => `${s.name} ${s.shape}`);
    expect(names).toContain("model.layers.0.self_attn.q_norm.weight 16");
    expect(names).toContain("model.layers.0.self_attn.k_norm.weight 16");
    expect(names).toContain("model.layers.0.self_attn.q_proj.weight 64,32");
    expect(parseConfig({ ...BASE, architectures: ["Qwen3ForCausalLM"], attention_bias: true }).oBias).toBe(true);
    expect(parseConfig({ ...BASE, architectures: ["Qwen2ForCausalLM"] }).qkNorm).toBe(false);
  });

  it("Llama 3.2's rope_scaling reads, and its inverse frequencies follow HF's three bands", () => {
    const c = parseConfig({ ...BASE, architectures: ["LlamaForCausalLM"], rope_scaling: LLAMA3, rope_theta: 500000 });
    expect(c.ropeScaling).toEqual({ factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
    // D 8 at theta 5e5: wavelengths 6.3 and 167 (kept: < 8192/4), 4.4e3 (interpolated), 1.2e5 (divided by 32).
    const inv = ropeInvFreq(8, 500000);
    const got = llama3InvFreq(inv, c.ropeScaling!);
    expect(got[0]).toBe(inv[0]);
    expect(got[1]).toBe(inv[1]);
    expect(got[3]).toBe(Math.fround(inv[3]! / 32));
    // Interpolated: s = (8192 / wavelen - 1) / 3, then (1 - s) f / 32 + s f, in float64 to 1e-6.
    for (const i of [2]) {
      const wl = (2 * Math.PI) / inv[i]!;
      const s = (8192 / wl - 1) / 3;
      expect(s > 0 && s < 1).toBe(true);
      expect(Math.abs(got[i]! - ((1 - s) * inv[i]! / 32 + s * inv[i]!)) / inv[i]!).toBeLessThan(1e-6);
    }
    expect(parseConfig({ ...BASE, architectures: ["LlamaForCausalLM"], rope_scaling: null }).ropeScaling).toBeNull();
  });

  it.each([
    [{ rope_scaling: { rope_type: "yarn", factor: 4 } }, `c.json: 'rope_scaling.rope_type' "yarn" is not supported (supported: "llama3", or no rope_scaling)`],
    [{ rope_scaling: { type: "linear", factor: 2 } }, `c.json: 'rope_scaling.type' "linear" is not supported`],
    [{ rope_scaling: { type: "dynamic", factor: 2 } }, `c.json: 'rope_scaling.type' "dynamic" is not supported`],
    [{ rope_scaling: { ...LLAMA3, factor: 0 } }, `c.json: 'rope_scaling.factor' must be a positive finite number for rope_type "llama3", got 0`],
    [{ rope_scaling: { ...LLAMA3, original_max_position_embeddings: undefined } }, `'rope_scaling.original_max_position_embeddings' must be a positive finite number`],
    [{ rope_scaling: { ...LLAMA3, high_freq_factor: 1 } }, `'rope_scaling.high_freq_factor' (1) must exceed 'rope_scaling.low_freq_factor' (1)`],
    [{ rope_scaling: { ...LLAMA3, attention_factor: 2 } }, `c.json: 'rope_scaling.attention_factor' is not supported with rope_type "llama3"; remove it`],
    [{ rope_scaling: "llama3" }, `c.json: 'rope_scaling' must be an object or null, got "llama3"`],
    [{ use_sliding_window: true, sliding_window: 4096 }, `c.json: 'use_sliding_window' true is not supported (acpo attends over the full context); set it to false`],
    [{ layer_types: ["full_attention", "sliding_attention"] }, `c.json: 'layer_types' lists "sliding_attention" layers; only "full_attention" is supported`],
    [{ mlp_bias: true }, `c.json: 'mlp_bias' true is not supported`],
    [{ partial_rotary_factor: 0.5 }, `c.json: 'partial_rotary_factor' 0.5 is not supported`],
    [{ attention_dropout: 0.1 }, `c.json: 'attention_dropout' 0.1 is not supported (acpo trains without dropout); set it to 0`],
    [{ architectures: ["Qwen3MoeForCausalLM"] }, `c.json: architecture "Qwen3MoeForCausalLM" is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)`],
  ])("refuses %o naming the key", (extra, message) => {
    expect(() => parseConfig({ architectures: ["LlamaForCausalLM"], ...BASE, ...extra }, "c.json")).toThrow(message);
  });

  it("accepts the defaults those keys ship with in real configs (Qwen2.5, Qwen3, Llama 3.2)", () => {
    for (const extra of [
      { use_sliding_window: false, sliding_window: 32768, max_window_layers: 21, attention_dropout: 0.0, rope_scaling: null },
      { mlp_bias: false, pretraining_tp: 1, rope_scaling: { ...LLAMA3, rope_type: undefined, type: "llama3" } },
      { rope_scaling: { rope_type: "default" } },
    ]) expect(() => parseConfig({ architectures: ["LlamaForCausalLM"], ...BASE, ...extra }, "c.json")).not.toThrow();
  });
});
