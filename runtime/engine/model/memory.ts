// The memory plan of a model on a device: bytes of every buffer family the runtime allocates
// (the same shapes transformer.ts, decoder.ts, optimizer.ts and lm-head.ts create, rounded to
// the pool's buckets), so `acpo doctor` can print it and `acpo train` can refuse a run that
// cannot fit before it starts.
import { bucketBytes, planBindingRanges } from "../gpu.js";
import { DEFAULT_BINDING_BYTES, attentionKeptShape, attentionMode, attentionModeNote, attentionScratchShape } from "../ops/attention-mode.js";
import type { ModelConfig } from "./config.js";
import { EMBEDDING, SLOT_WIDTH, layerBody, normRows, ownedSlots, widthOf } from "./layer-body.js";
import { parameterSpecs } from "./layout.js";
import { fullRowsWidths } from "./shared-attention.js";
import { logitsChunkBudget, logitsChunkRows } from "./lm-head.js";
import { isHalfWeight, type Precision } from "./weights.js";

export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /** Byte alignment of a binding's offset (WebGPU's default 256 when absent). */
  minStorageBufferOffsetAlignment?: number;
}

export interface MemoryRow {
  item: string;
  bytes: number;
  /** The largest single buffer of the item (checked against the binding limit). */
  largest: number;
  note: string;
  /** The largest single binding of the item, where a buffer is bound in row ranges (default: `largest`). */
  bound?: number;
}

export interface MemoryPlan {
  rows: MemoryRow[];
  total: number;
  /** How each tensor larger than one binding is split into row ranges (empty when none is). */
  splits: string[];
  /** Reasons the run cannot fit (empty when it fits). */
  problems: string[];
  /** Which attention the training minibatch gets and why (ops/attention-mode.ts). */
  attention: string;
}

export interface RunShape {
  /** Sequences per training minibatch (B) and their padded length (T). */
  trainB: number;
  trainT: number;
  /** Rows sampled at once (prompts x group) and the KV cache length (prompt + max_tokens). */
  sampleRows: number;
  sampleT: number;
  /** A frozen reference policy is held (a stage with `reference`). */
  reference: boolean;
  /** `precision f16`: f16 copies of the linear weights beside the f32 masters (default f32). */
  precision?: Precision;
  /**
   * The update's rows share prompts (group > 1), so it runs the shared-prefix layout
   * (shared-rows.ts): planned at its most packed tokens, B x T (the real count is smaller).
   */
  sharedPrefix?: boolean;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const buf = (elements: number) => bucketBytes(elements * 4);

/** Bytes of the parameters (each tensor its own buffer). */
export function weightBuffers(c: ModelConfig): number[] {
  return parameterSpecs(c).map((s) => buf(s.shape.reduce((a, b) => a * b, 1)));
}

/** Under `precision f16`: the f16 copies of the linear weights (GpuWeights.refreshHalf), 2 bytes each. */
export function halfWeightBuffers(c: ModelConfig): number[] {
  return parameterSpecs(c).filter((s) => isHalfWeight(s.name)).map((s) => bucketBytes(s.shape.reduce((a, b) => a * b, 1) * 2));
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Forward activations of one (B, T) batch (Transformer.activations), one entry per buffer,
 * derived from the layer body: each owned slot (N, width), each norm's 1/rms, what attention
 * keeps (the probabilities (B, Hq, T, T) or the log-sum-exp (B, Hq, T): the mode on a device
 * whose bindings hold `maxBindingBytes`); then ids, positions, the last stream, the final norm
 * and its 1/rms. In the shared-prefix layout of `packed` tokens (forwardHiddenShared) the
 * token buffers hold N = packed rows, and the hidden states per slot (B*T, C) and attention's
 * whole-row q, k, v, out (shared-attention.ts) come on top.
 */
export function activationBuffers(c: ModelConfig, B: number, T: number, maxBindingBytes = DEFAULT_BINDING_BYTES, packed?: number): number[] {
  const N = packed ?? B * T, out: number[] = [], s = { B, T, Hq: c.numHeads };
  const kept = buf(numel(attentionKeptShape(attentionMode(s, maxBindingBytes), s)));
  for (let l = 0; l < c.numLayers; l++) {
    const body = layerBody(c, l);
    for (const s of ownedSlots(body)) out.push(buf(N * widthOf(c, SLOT_WIDTH[s])));
    for (const b of body) if (b.kind === "norm" || b.kind === "headNorm") out.push(buf(normRows(c, b, N)));
    out.push(kept);
  }
  out.push(buf(N), buf(N), buf(N * c.hiddenSize), buf(N * c.hiddenSize), buf(N));
  if (packed !== undefined) out.push(buf(B * T * c.hiddenSize), ...fullRowsWidths(attentionWidths(c)).forward.map((w) => buf(B * T * w)));
  return out;
}

const attentionWidths = (c: ModelConfig) => ({ Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim });

/**
 * Backward scratch of one (B, T) batch (Transformer.scratch); attention's (datt or delta) by the
 * mode, as in activationBuffers. The shared-prefix layout of `packed` tokens: the token buffers
 * at N = packed rows, the hidden gradient per slot (B*T, C) and per packed token (N, C), and
 * attention's whole-row dout, dq, dk, dv.
 */
export function backwardBuffers(c: ModelConfig, B: number, T: number, maxBindingBytes = DEFAULT_BINDING_BYTES, packed?: number): number[] {
  const N = packed ?? B * T, C = c.hiddenSize, F = c.intermediateSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim, s = { B, T, Hq: c.numHeads };
  const att = numel(attentionScratchShape(attentionMode(s, maxBindingBytes), s));
  const out = [N * C, N * C, N * C, N * F, N * F, N * F, N * q, N * q, N * kv, N * kv, att, B * T * C];
  if (packed !== undefined) out.push(N * C, ...fullRowsWidths(attentionWidths(c)).backward.map((w) => B * T * w));
  if (c.qkNorm) out.push(N * q, N * kv);
  return out.map(buf);
}

/** The KV cache of `rows` sequences of up to T positions (decoder.ts KVCache). */
export function kvCacheBuffers(c: ModelConfig, rows: number, T: number): number[] {
  return Array.from({ length: 2 * c.numLayers }, () => buf(rows * c.numKvHeads * T * c.headDim));
}

/** Most bytes of concatenated decode weight copies the Decoder makes (beyond it: separate matmuls). */
export const PACK_BUDGET_BYTES = 256 * 2 ** 20;

/** Bytes of the decoder's per-layer [Wq; Wk; Wv] and [Wgate; Wup] copies, were it to make them. */
export function packedDecodeBytes(c: ModelConfig): number {
  return 4 * c.numLayers * c.hiddenSize * ((c.numHeads + 2 * c.numKvHeads) * c.headDim + 2 * c.intermediateSize);
}

/**
 * The decoder's concatenated weight copies (decoder.ts Packed), one entry per buffer: q|k|v
 * per layer (not for q/k-normed models, which keep separate projections) and gate|up per
 * layer; none when they exceed PACK_BUDGET_BYTES. Biases are left out (a few KiB).
 */
export function packedDecodeBuffers(c: ModelConfig): number[] {
  if (packedDecodeBytes(c) > PACK_BUDGET_BYTES) return [];
  const qkv = (c.numHeads + 2 * c.numKvHeads) * c.headDim * c.hiddenSize, gu = 2 * c.intermediateSize * c.hiddenSize;
  return Array.from({ length: c.numLayers }, () => [...(c.qkNorm ? [] : [buf(qkv)]), buf(gu)]).flat();
}

/** The LM head's weight: the embedding when tied. */
const headWeight = (c: ModelConfig): string => (c.tieWordEmbeddings ? EMBEDDING : "lm_head.weight");

/**
 * How the weights bind (transformer.ts, ops/embedding.ts, the element-wise passes): a weight
 * within one binding whole; the embedding and the LM head over vocabulary row ranges (the head's
 * ranges also keep its f16 copy's and bias's offsets aligned); any other weight larger than a
 * binding cannot run (its matmuls bind it whole). `bound`: the largest binding of a weight.
 */
export function weightBindings(c: ModelConfig, limits: DeviceLimits): { bound: number; splits: string[]; problems: string[] } {
  const limit = limits.maxStorageBufferBindingSize, alignment = limits.minStorageBufferOffsetAlignment ?? 256, C = c.hiddenSize;
  const out = { bound: 0, splits: [] as string[], problems: [] as string[] };
  for (const s of parameterSpecs(c)) {
    const bytes = 4 * s.shape.reduce((a, b) => a * b, 1);
    if (bytes <= limit) {
      out.bound = Math.max(out.bound, bytes);
      continue;
    }
    if (s.name !== EMBEDDING && s.name !== headWeight(c)) {
      out.problems.push(`weights: '${s.name}' (${s.shape.join(" x ")}) is one buffer of ${bytes} bytes, more than maxStorageBufferBindingSize (${limit}); only the embedding and the LM head are split into row ranges`);
      continue;
    }
    try {
      const units = s.name === headWeight(c) ? [4 * C, 2 * C, 4] : [4 * C];
      const ranges = planBindingRanges(s.shape[0]!, units, { limit, alignment }, `weights: '${s.name}' (${s.shape.join(" x ")})`);
      const most = Math.max(...ranges.map((r) => r.count));
      out.bound = Math.max(out.bound, most * 4 * C);
      out.splits.push(`'${s.name}' (${s.shape.join(" x ")}, ${mib(bytes)}) is bound in ${ranges.length} row ranges of up to ${most} rows (${mib(most * 4 * C)} each)`);
    } catch (e) {
      out.problems.push((e as Error).message);
    }
  }
  return out;
}

/** The plan of a training run of `shape` on a device with `limits`. */
export function memoryPlan(c: ModelConfig, limits: DeviceLimits, shape: RunShape, budget = logitsChunkBudget()): MemoryPlan {
  const V = c.vocabSize;
  const w = weightBuffers(c);
  const N = shape.trainB * shape.trainT;
  const rows: MemoryRow[] = [];
  const add = (item: string, bufs: number[], note: string) => rows.push({ item, bytes: sum(bufs), largest: Math.max(0, ...bufs), note });
  const problems: string[] = [];
  const half = shape.precision === "f16" ? halfWeightBuffers(c) : [];
  const binding = weightBindings(c, limits);
  problems.push(...binding.problems);
  add("weights", w, `${parameterSpecs(c).length} tensors, fp32${half.length ? " (the masters AdamW updates)" : ""}`);
  if (half.length) add("weights (f16 copies)", half, `${half.length} linear weights as f16, read by the matmuls`);
  add("gradients", w, "fp32, one per weight");
  add("optimizer state", [...w, ...w], "AdamW m and v, fp32");
  if (shape.reference) add("reference policy", [...w, ...half], `frozen copy of the weights${half.length ? " and their f16 copies" : ""}`);
  const limit = limits.maxStorageBufferBindingSize, attention = { B: shape.trainB, T: shape.trainT, Hq: c.numHeads };
  const mode = attentionMode(attention, limit);
  const packedTokens = shape.sharedPrefix ? N : undefined;
  const layout = packedTokens === undefined ? "" : ", shared-prefix layout at its most packed tokens (B x T)";
  add("activations (train)", [...activationBuffers(c, shape.trainB, shape.trainT, limit, packedTokens), ...backwardBuffers(c, shape.trainB, shape.trainT, limit, packedTokens)], `B ${shape.trainB} x T ${shape.trainT}${layout}, forward + backward scratch, attention ${mode === "saved" ? "saved-P" : "recompute"}`);
  // Under f16 the decoder runs separate projections (weights.ts decodePacking): no packed copies.
  const packed = half.length ? [] : packedDecodeBuffers(c);
  if (packed.length > 0) add("decode weight copies", packed, "q|k|v and gate|up concatenated per layer, for sampling");
  add("KV cache (sampling)", kvCacheBuffers(c, shape.sampleRows, shape.sampleT), `${shape.sampleRows} rows x ${shape.sampleT} positions`);
  // The weight families bind as the weights do (row ranges for the vocabulary tensors).
  for (const r of rows) if (WEIGHT_FAMILIES.has(r.item)) r.bound = binding.bound;
  let R = 0;
  try {
    R = logitsChunkRows(limits, V, Math.max(N, shape.sampleRows), budget);
    add("logits chunks", [buf(R * V), buf(R * V), ...headScratch(c, limits, R)], `${R} rows x vocab ${V} (logits + dlogits) + ${binding.splits.length > 0 ? "one vocabulary range's logits" : "the head gradient transposed"}; N x V would be ${N * V * 4} bytes`);
  } catch (e) {
    problems.push((e as Error).message);
  }
  for (const r of rows) {
    const bound = r.bound ?? r.largest;
    if (bound > limits.maxStorageBufferBindingSize && !WEIGHT_FAMILIES.has(r.item)) {
      problems.push(`${r.item}: one buffer of ${bound} bytes exceeds maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize})`);
    }
  }
  return { rows, total: sum(rows.map((r) => r.bytes)), splits: binding.splits, problems, attention: attentionModeNote(attention, limit) };
}

/** Rows whose buffers are the weights' shapes (checked per tensor by `weightBindings`). */
const WEIGHT_FAMILIES = new Set(["weights", "weights (f16 copies)", "gradients", "optimizer state", "reference policy"]);

/**
 * The head's scratch beside the logits chunks (lm-head.ts, transformer.ts): the (C, V) transposed
 * gradient when the head binds whole, else one vocabulary range's (R, Vr) logits at a time.
 */
function headScratch(c: ModelConfig, limits: DeviceLimits, R: number): number[] {
  const C = c.hiddenSize, V = c.vocabSize;
  try {
    const ranges = planBindingRanges(V, [4 * C, 2 * C, 4], { limit: limits.maxStorageBufferBindingSize, alignment: limits.minStorageBufferOffsetAlignment ?? 256 }, "LM head");
    return ranges.length === 1 ? [buf(C * V)] : [buf(R * Math.max(...ranges.map((r) => r.count)))];
  } catch {
    return [buf(C * V)]; // a head that cannot be split: weightBindings reports it
  }
}

const mib = (b: number) => (b > 0 && b < 2 ** 20 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/** The plan as a text table against the device's limits. */
export function formatPlan(p: MemoryPlan, limits: DeviceLimits, deviceName: string): string {
  const lines = [`memory plan on ${deviceName} (maxStorageBufferBindingSize ${mib(limits.maxStorageBufferBindingSize)}, maxBufferSize ${mib(limits.maxBufferSize)}):`];
  lines.push(`  ${"item".padEnd(22)} ${"total".padStart(12)} ${"largest buffer".padStart(15)}  note`);
  for (const r of p.rows) lines.push(`  ${r.item.padEnd(22)} ${mib(r.bytes).padStart(12)} ${mib(r.largest).padStart(15)}  ${r.note}`);
  lines.push(`  ${"total".padEnd(22)} ${mib(p.total).padStart(12)}`);
  for (const s of p.splits) lines.push(`split: ${s}`);
  lines.push(`attention: ${p.attention}`);
  if (p.problems.length === 0) lines.push(p.splits.length === 0 ? "fits: every buffer is within the device's binding limit" : "fits: every binding is within the device's binding limit (the split tensors bound range by range)");
  else for (const x of p.problems) lines.push(`does not fit: ${x}`);
  return lines.join("\n");
}
