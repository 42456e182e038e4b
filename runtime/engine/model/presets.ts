// Model presets for `acpo init-model`, and Hugging Face-style random initialisation.
import { Rng } from "../rng.js";
import { type ModelConfig, parseConfig } from "./config.js";
import { parameterSpecs } from "./layout.js";
import type { TensorMap } from "./safetensors.js";

export interface Preset {
  description: string;
  config: Record<string, unknown>; // config.json fields other than the vocabulary and special ids
}

const llama = (hidden: number, layers: number, heads: number, kvHeads: number, inter: number, maxPos: number): Record<string, unknown> => ({
  architectures: ["LlamaForCausalLM"],
  hidden_size: hidden,
  intermediate_size: inter,
  num_hidden_layers: layers,
  num_attention_heads: heads,
  num_key_value_heads: kvHeads,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: maxPos,
  tie_word_embeddings: true,
  initializer_range: 0.02,
});

export const PRESETS: Record<string, Preset> = {
  tiny: { description: "Llama, 2 layers, width 64, 4 heads (2 kv), ~0.1 M parameters: tests and quick runs", config: llama(64, 2, 4, 2, 176, 256) },
  small: { description: "Llama, 4 layers, width 128, 4 heads, ~0.8 M parameters: the quickstart policy", config: llama(128, 4, 4, 4, 344, 256) },
  base: { description: "Llama, 6 layers, width 256, 8 heads (4 kv), ~4.5 M parameters", config: llama(256, 6, 8, 4, 688, 512) },
};

/** The config for a preset with a tokenizer's vocabulary size and special token ids. */
export function presetConfig(name: string, vocabSize: number, bos: number | null, eos: number[]): ModelConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset '${name}' (choose one of: ${Object.keys(PRESETS).join(", ")})`);
  return parseConfig({ ...p.config, vocab_size: vocabSize, bos_token_id: bos, eos_token_id: eos.length === 1 ? eos[0] : eos }, `preset ${name}`);
}

/**
 * HF's _init_weights for Llama: every Linear and Embedding weight ~ N(0, initializer_range),
 * biases 0, RMSNorm weights 1.
 */
export function initWeights(c: ModelConfig, seed: number): TensorMap {
  const rng = new Rng(seed);
  const std = typeof c.raw.initializer_range === "number" ? c.raw.initializer_range : 0.02;
  const weights: TensorMap = new Map();
  for (const spec of parameterSpecs(c)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (spec.name.endsWith("norm.weight")) data.fill(1);
    else if (!spec.name.endsWith(".bias")) for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    weights.set(spec.name, { shape: spec.shape, data });
  }
  return weights;
}
