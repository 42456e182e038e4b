// The Hugging Face tensor names and shapes of a LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM,
// derived from its config. nn.Linear weights are stored (out_features, in_features).
import type { ModelConfig } from "./config.js";

export interface TensorSpec {
  name: string;
  shape: number[];
}

/** Every parameter tensor the config implies, in HF's order. */
export function parameterSpecs(c: ModelConfig): TensorSpec[] {
  const C = c.hiddenSize, F = c.intermediateSize, V = c.vocabSize;
  const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
  const specs: TensorSpec[] = [{ name: "model.embed_tokens.weight", shape: [V, C] }];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    specs.push({ name: `${p}.input_layernorm.weight`, shape: [C] });
    specs.push({ name: `${p}.self_attn.q_proj.weight`, shape: [qDim, C] });
    if (c.qkvBias) specs.push({ name: `${p}.self_attn.q_proj.bias`, shape: [qDim] });
    specs.push({ name: `${p}.self_attn.k_proj.weight`, shape: [kvDim, C] });
    if (c.qkvBias) specs.push({ name: `${p}.self_attn.k_proj.bias`, shape: [kvDim] });
    specs.push({ name: `${p}.self_attn.v_proj.weight`, shape: [kvDim, C] });
    if (c.qkvBias) specs.push({ name: `${p}.self_attn.v_proj.bias`, shape: [kvDim] });
    specs.push({ name: `${p}.self_attn.o_proj.weight`, shape: [C, qDim] });
    if (c.oBias) specs.push({ name: `${p}.self_attn.o_proj.bias`, shape: [C] });
    if (c.qkNorm) {
      specs.push({ name: `${p}.self_attn.q_norm.weight`, shape: [c.headDim] });
      specs.push({ name: `${p}.self_attn.k_norm.weight`, shape: [c.headDim] });
    }
    specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [C] });
    specs.push({ name: `${p}.mlp.gate_proj.weight`, shape: [F, C] });
    specs.push({ name: `${p}.mlp.up_proj.weight`, shape: [F, C] });
    specs.push({ name: `${p}.mlp.down_proj.weight`, shape: [C, F] });
  }
  specs.push({ name: "model.norm.weight", shape: [C] });
  if (!c.tieWordEmbeddings) specs.push({ name: "lm_head.weight", shape: [V, C] });
  return specs;
}

/** Tensors some exporters store that carry no parameters (recomputed from the config). */
export const IGNORED_TENSOR = /\.rotary_emb\.inv_freq$/;

export const parameterCount = (c: ModelConfig): number =>
  parameterSpecs(c).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
