// Model configuration: the subset of a Hugging Face config.json that fully describes a
// LlamaForCausalLM or Qwen2ForCausalLM in fp32. Unknown architectures and inconsistent
// sizes are errors naming the file and the field.
import { readFileSync } from "node:fs";
import { CheckpointError } from "./safetensors.js";

export type Architecture = "LlamaForCausalLM" | "Qwen2ForCausalLM" | "Qwen3ForCausalLM";
export const ARCHITECTURES: readonly Architecture[] = ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"];

/** Llama 3's frequency-dependent RoPE scaling (HF rope_type "llama3"). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number; // C
  intermediateSize: number; // F, the SwiGLU width
  numLayers: number;
  numHeads: number; // Hq
  numKvHeads: number; // Hkv (grouped-query attention)
  headDim: number; // D
  rmsNormEps: number;
  ropeTheta: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** Biases on q/k/v projections (Qwen2: always; Llama: `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama and Qwen3 `attention_bias`). */
  oBias: boolean;
  /** Qwen3: RMSNorm over each head's q and k (q_norm, k_norm, weight (D)) before RoPE. */
  qkNorm: boolean;
  /** rope_scaling {"rope_type": "llama3", ...}, or null for plain RoPE. */
  ropeScaling: Llama3RopeScaling | null;
  bosTokenId: number | null;
  eosTokenId: number[];
  /** The file's own JSON, kept so that saving preserves fields we do not interpret. */
  raw: Record<string, unknown>;
}

/**
 * Upper bounds on config.json sizes. Far above every Llama / Qwen2 model published (vocab
 * 152k, hidden 8192, 80 layers, 1M positions), low enough that the tables the runtime
 * derives from the config alone (RoPE: max_position_embeddings x head_dim/2, twice) fit in
 * memory, so an absurd value is an error naming the field instead of a failed allocation.
 */
export const CONFIG_LIMITS = {
  vocab_size: 1 << 24,
  hidden_size: 1 << 16,
  intermediate_size: 1 << 18,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  max_position_embeddings: 1 << 22,
} as const;
/** Elements of each RoPE table (cos and sin): 2^27 floats is 512 MiB. */
export const MAX_ROPE_TABLE = 1 << 27;

/** Parse and validate a config.json object; `file` names the source in errors. */
export function parseConfig(raw: Record<string, unknown>, file = "config.json"): ModelConfig {
  const archs = raw.architectures;
  const arch = Array.isArray(archs) ? (archs[0] as string) : undefined;
  if (!arch || !ARCHITECTURES.includes(arch as Architecture)) {
    throw new CheckpointError(`${file}: architecture ${JSON.stringify(arch ?? null)} is not supported (supported: ${ARCHITECTURES.join(", ")})`);
  }
  const int = (key: keyof typeof CONFIG_LIMITS, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    const max = CONFIG_LIMITS[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0 || v > max) {
      throw new CheckpointError(`${file}: '${key}' must be an integer from 1 to ${max}, got ${JSON.stringify(v ?? null)}`);
    }
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw new CheckpointError(`${file}: '${key}' must be a positive finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (key: string): boolean => {
    const v = raw[key] ?? false;
    if (typeof v !== "boolean") throw new CheckpointError(`${file}: '${key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  const numKvHeads = int("num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new CheckpointError(`${file}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const headDim = raw.head_dim === undefined || raw.head_dim === null ? hiddenSize / numHeads : int("head_dim");
  if (!Number.isInteger(headDim)) throw new CheckpointError(`${file}: hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}); set head_dim`);
  if (headDim % 2 !== 0) throw new CheckpointError(`${file}: head dimension ${headDim} must be even for rotary embeddings`);
  const ropeScaling = parseRopeScaling(raw.rope_scaling, file);
  refuseUnsupported(raw, file);
  const act = raw.hidden_act ?? "silu";
  if (act !== "silu") throw new CheckpointError(`${file}: hidden_act '${String(act)}' is not supported (Llama and Qwen2 use 'silu')`);
  const maxPositions = int("max_position_embeddings", 2048);
  if (maxPositions * (headDim / 2) > MAX_ROPE_TABLE) {
    // Without rope_scaling, the tables for positions below a smaller limit are the same.
    throw new CheckpointError(`${file}: max_position_embeddings ${maxPositions} with head dimension ${headDim} needs RoPE tables of ${maxPositions * (headDim / 2)} values each (limit ${MAX_ROPE_TABLE}); lower max_position_embeddings to at most ${Math.floor(MAX_ROPE_TABLE / (headDim / 2))}, the longest sequence acpo will then accept`);
  }
  const vocabSize = int("vocab_size");
  const tokenId = (key: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
      throw new CheckpointError(`${file}: '${key}' must be a token id from 0 to ${vocabSize - 1} (vocab_size - 1), got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const isQwen = arch === "Qwen2ForCausalLM";
  const isQwen3 = arch === "Qwen3ForCausalLM";
  const attentionBias = bool("attention_bias");
  const eos = raw.eos_token_id ?? [];
  return {
    architecture: arch as Architecture,
    vocabSize,
    hiddenSize,
    intermediateSize: int("intermediate_size"),
    numLayers: int("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    maxPositions,
    // LlamaConfig and Qwen2Config both default tie_word_embeddings to false.
    tieWordEmbeddings: bool("tie_word_embeddings"),
    qkvBias: isQwen || attentionBias,
    oBias: !isQwen && attentionBias,
    qkNorm: isQwen3,
    ropeScaling,
    bosTokenId: raw.bos_token_id === undefined || raw.bos_token_id === null ? null : tokenId("bos_token_id", raw.bos_token_id),
    eosTokenId: (Array.isArray(eos) ? eos : [eos]).map((v) => tokenId("eos_token_id", v)),
    raw,
  };
}

export function readConfig(path: string): ModelConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new CheckpointError(`${path}: expected a JSON object`);
  return parseConfig(raw as Record<string, unknown>, path);
}

/** config.json contents for a config (fields we interpret overwrite the raw ones). */
export function configToJson(c: ModelConfig): Record<string, unknown> {
  return {
    ...c.raw,
    architectures: [c.architecture],
    model_type: MODEL_TYPES[c.architecture],
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositions,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.architecture !== "Qwen2ForCausalLM" ? { attention_bias: c.qkvBias } : {}),
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId.length === 1 ? c.eosTokenId[0] : c.eosTokenId,
    torch_dtype: "float32",
  };
}

const MODEL_TYPES: Record<Architecture, string> = { LlamaForCausalLM: "llama", Qwen2ForCausalLM: "qwen2", Qwen3ForCausalLM: "qwen3" };

/**
 * rope_scaling: null/absent, or Llama 3's {"rope_type": "llama3", factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings}. Other types (linear, dynamic, yarn,
 * longrope, ...) change the model's meaning in ways acpo does not compute: refused by key.
 */
function parseRopeScaling(v: unknown, file: string): Llama3RopeScaling | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw new CheckpointError(`${file}: 'rope_scaling' must be an object or null, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  const type = o.rope_type ?? o.type;
  const key = o.rope_type !== undefined ? "rope_scaling.rope_type" : "rope_scaling.type";
  if (type === "default") return null;
  if (type !== "llama3") throw new CheckpointError(`${file}: '${key}' ${JSON.stringify(type ?? null)} is not supported (supported: "llama3", or no rope_scaling)`);
  const num = (k: string): number => {
    const x = o[k];
    if (typeof x !== "number" || !(x > 0) || !Number.isFinite(x)) throw new CheckpointError(`${file}: 'rope_scaling.${k}' must be a positive finite number for rope_type "llama3", got ${JSON.stringify(x ?? null)}`);
    return x;
  };
  const s = { factor: num("factor"), lowFreqFactor: num("low_freq_factor"), highFreqFactor: num("high_freq_factor"), originalMaxPositions: num("original_max_position_embeddings") };
  if (!(s.highFreqFactor > s.lowFreqFactor)) throw new CheckpointError(`${file}: 'rope_scaling.high_freq_factor' (${s.highFreqFactor}) must exceed 'rope_scaling.low_freq_factor' (${s.lowFreqFactor})`);
  for (const k of Object.keys(o)) {
    if (!["rope_type", "type", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"].includes(k)) {
      throw new CheckpointError(`${file}: 'rope_scaling.${k}' is not supported with rope_type "llama3"; remove it`);
    }
  }
  return s;
}

/** Config keys whose non-default values change the model in ways acpo does not compute. */
function refuseUnsupported(raw: Record<string, unknown>, file: string): void {
  const on = (k: string) => raw[k] !== undefined && raw[k] !== null && raw[k] !== false;
  if (raw.use_sliding_window === true) throw new CheckpointError(`${file}: 'use_sliding_window' true is not supported (acpo attends over the full context); set it to false`);
  if (Array.isArray(raw.layer_types) && raw.layer_types.some((t) => t !== "full_attention")) {
    throw new CheckpointError(`${file}: 'layer_types' lists ${JSON.stringify(raw.layer_types.find((t) => t !== "full_attention"))} layers; only "full_attention" is supported`);
  }
  if (on("mlp_bias")) throw new CheckpointError(`${file}: 'mlp_bias' true is not supported (Llama, Qwen2 and Qwen3 MLPs have no bias)`);
  if (raw.partial_rotary_factor !== undefined && raw.partial_rotary_factor !== 1) throw new CheckpointError(`${file}: 'partial_rotary_factor' ${JSON.stringify(raw.partial_rotary_factor)} is not supported (only 1: rotary over the whole head)`);
  if (raw.attention_dropout !== undefined && raw.attention_dropout !== 0 && raw.attention_dropout !== 0.0) throw new CheckpointError(`${file}: 'attention_dropout' ${JSON.stringify(raw.attention_dropout)} is not supported (acpo trains without dropout); set it to 0`);
}
