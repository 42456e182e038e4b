// Which attention a (B, T) batch gets, and what each keeps between forward and backward.
//
// "saved" (attention.ts): forward keeps the probabilities att (B, Hq, T, T) and backward
// reads them (with a datt scratch of the same shape): the path every shape took before
// recompute existed (attention.ts's header gives its reasons).
// "recompute" (attention-recompute.ts): forward keeps the per-row log-sum-exp (B, Hq, T) and
// backward recomputes the scores (with a delta scratch (B, Hq, T)); ~7/4 of saved-P's
// backward flops, no T x T buffer.
// Measured on lavapipe (subgroup schedule, 2 cores at load average ~5, so +-30 %): forward
// + backward of one layer, 14 heads of 64, recompute against saved-P: 1 x 1024 tokens 1.9 s
// against 2.7 s, 4 x 512 1.9 s against 1.6 s; 32 x 128, 4 heads of 32: equal within the noise.
// Recompute's extra flops cost about what saved-P's T x T memory traffic costs, so the rule
// is about memory, and it keeps every shape that ran before on the saved-P path (the same
// bits): saved while its (B, Hq, T, T) fp32 buffer fits one storage binding, recompute
// beyond. On lavapipe (128 MiB) Qwen2.5's 14 heads stay saved up to B x T^2 = 2,396,745
// (4 x 774, 1 x 1,548) and recompute from there, e.g. one sequence of 2,048 tokens (224 MiB).
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { type AttentionSizes, attentionBackward, attentionForward } from "./attention.js";
import { attentionBackwardLse, attentionForwardLse } from "./attention-recompute.js";

export type AttentionMode = "saved" | "recompute";

/** WebGPU's default maxStorageBufferBindingSize (128 MiB, lavapipe's too): plans made without a device assume it. */
export const DEFAULT_BINDING_BYTES = 134_217_728;

type Batch = Pick<AttentionSizes, "B" | "T" | "Hq">;

/** Bytes of the saved-P probabilities (B, Hq, T, T) fp32: one buffer, one binding. */
export const savedProbabilityBytes = (s: Batch): number => 4 * s.B * s.Hq * s.T * s.T;

/** The mode of a batch on a device whose storage bindings hold `maxBindingBytes`. */
export function attentionMode(s: Batch, maxBindingBytes: number): AttentionMode {
  return savedProbabilityBytes(s) <= maxBindingBytes ? "saved" : "recompute";
}

/** What forward keeps per layer: att (B, Hq, T, T), or lse (B, Hq, T). */
export function attentionKeptShape(mode: AttentionMode, s: Batch): number[] {
  return mode === "saved" ? [s.B, s.Hq, s.T, s.T] : [s.B, s.Hq, s.T];
}

/** Backward's scratch (one for all layers): datt (B, Hq, T, T), or delta (B, Hq, T). */
export const attentionScratchShape = attentionKeptShape;

/** One line saying which mode a batch gets and why, for the memory plan. */
export function attentionModeNote(s: Batch, maxBindingBytes: number): string {
  const bytes = savedProbabilityBytes(s), mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const shape = `${s.B} x ${s.Hq} x ${s.T} x ${s.T}`;
  return attentionMode(s, maxBindingBytes) === "saved"
    ? `saved probabilities: each layer keeps att (${shape}, ${mib(bytes)}), within the binding limit (${mib(maxBindingBytes)})`
    : `recompute: att (${shape}, ${mib(bytes)}) would exceed the binding limit (${mib(maxBindingBytes)}), so each layer keeps the log-sum-exp (${s.B} x ${s.Hq} x ${s.T}) and backward recomputes the scores`;
}

/**
 * Forward in `mode`: `kept` is attentionKeptShape's buffer; qStart as attentionForward's (the
 * shared-prefix layout's query offset). keep false: no backward follows, so saved-P need not
 * write P (attentionForward's keep; recompute's log-sum-exp costs one store per row and stays).
 */
export function attentionForwardIn(
  gpu: Gpu,
  mode: AttentionMode,
  out: Tensor, // (B, T, Hq, D)
  kept: Tensor, // (B, Hq, T, T) att, or (B, Hq, T) lse
  q: Tensor, // (B, T, Hq, D)
  k: Tensor, // (B, T, Hkv, D)
  v: Tensor, // (B, T, Hkv, D)
  s: AttentionSizes,
  qStart?: Tensor, // (B) u32
  keep = true,
): void {
  if (mode === "saved") attentionForward(gpu, out, kept, q, k, v, s, undefined, qStart, keep);
  else attentionForwardLse(gpu, out, kept, q, k, v, s, undefined, qStart);
}

/** Backward in `mode`; overwrites dq, dk, dv. `out` is the forward's output (recompute reads it for delta); qStart the forward's. */
export function attentionBackwardIn(
  gpu: Gpu,
  mode: AttentionMode,
  dq: Tensor, // (B, T, Hq, D)
  dk: Tensor, // (B, T, Hkv, D)
  dv: Tensor, // (B, T, Hkv, D)
  scratch: Tensor, // (B, Hq, T, T) datt, or (B, Hq, T) delta
  dout: Tensor, // (B, T, Hq, D)
  q: Tensor, // (B, T, Hq, D)
  k: Tensor, // (B, T, Hkv, D)
  v: Tensor, // (B, T, Hkv, D)
  out: Tensor, // (B, T, Hq, D)
  kept: Tensor, // (B, Hq, T, T) att, or (B, Hq, T) lse
  s: AttentionSizes,
  qStart?: Tensor, // (B) u32
): void {
  if (mode === "saved") attentionBackward(gpu, dq, dk, dv, scratch, dout, q, k, v, kept, s, undefined, qStart);
  else attentionBackwardLse(gpu, dq, dk, dv, scratch, dout, q, k, v, out, kept, s, undefined, qStart);
}
