// Small random-weight model configs and model folders for tests.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";

/**
 * A folder holding a random 'tiny' Llama over the character tokenizer (which has \, { and }),
 * every weight but the norms multiplied by `scale` so next-token distributions are far from
 * uniform.
 */
export function tinyCharPolicyDir(seed: number, scale: number): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-tiny-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = presetConfig("tiny", 108, 1, [2]);
  const weights = initWeights(config, seed);
  for (const [name, t] of weights) if (!name.endsWith("norm.weight")) for (let i = 0; i < t.data.length; i++) t.data[i]! *= scale;
  saveCheckpoint(dir, { config, weights, tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return dir;
}

/** A 2-layer Qwen2 (4 heads, 2 kv) with vocabulary V: hidden 32 gives head dim 8. */
export function qwen2Config(V: number, hidden = 32, maxPos = 2048, tie = false): ModelConfig {
  return parseConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: V, hidden_size: hidden, intermediate_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000,
    max_position_embeddings: maxPos, tie_word_embeddings: tie, initializer_range: 0.5,
  });
}
