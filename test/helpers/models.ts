// Small random-weight model configs for tests.
import { type ModelConfig, parseConfig } from "../../runtime/model/config.js";

/** A 2-layer Qwen2 (4 heads, 2 kv) with vocabulary V: hidden 32 gives head dim 8. */
export function qwen2Config(V: number, hidden = 32, maxPos = 2048, tie = false): ModelConfig {
  return parseConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: V, hidden_size: hidden, intermediate_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000,
    max_position_embeddings: maxPos, tie_word_embeddings: tie, initializer_range: 0.5,
  });
}
