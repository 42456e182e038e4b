// Attention of the shared-prefix layout (shared-rows.ts): q, k, v of the N packed tokens are
// read into the whole-row layout (B, T) through the row map `toFull` — each row gets its
// group's prefix keys and values and its own — and the ordinary causal attention
// (ops/attention-mode.ts, saved-P or recompute by the same rule as the whole-row path, on the
// same (B, T)) runs there. A packed token's output is its slot's in the first row of its group
// (a prefix slot's output is the same in every row of the group: same keys, same query).
//
// Backward: the output gradient goes to the full slots of `toFullFirst` only (a prefix token's
// gradient enters once, at its first row; the other rows' prefix slots get 0, so their
// queries add exactly 0 to every key gradient), the ordinary attention backward runs on
// (B, T), and `fromFull` sums each packed token's dq, dk, dv over the full slots that read it:
// a prompt key's gradient is the sum over the G response rows that attend to it, in row order.
//
// The kernels run with the plan's query offset qStart (B): a group's first row computes all its
// queries, every other row only its own slots (from its prefix length P_b), so the G - 1
// repeated copies of a prompt's queries are skipped in forward and backward (their outputs
// are never read, and their output gradient is 0, so they added exactly 0 to dk and dv). The
// keys and values of the prompt are still gathered into every row, as its own queries read them.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { type AttentionMode, attentionBackwardIn, attentionForwardIn } from "../ops/attention-mode.js";
import type { AttentionSizes } from "../ops/attention.js";
import { embeddingForward } from "../ops/embedding.js";
import { rowGatherSum } from "../ops/row-gather-sum.js";
import type { SharedRows } from "./shared-rows.js";

/** Whole-row buffers the forward fills (one set for all layers). */
export interface FullRowsForward {
  q: Tensor; // (B*T, Hq*D)
  k: Tensor; // (B*T, Hkv*D)
  v: Tensor; // (B*T, Hkv*D)
  out: Tensor; // (B*T, Hq*D)
}

/** Whole-row buffers the backward adds (one set for all layers). */
export interface FullRowsBackward {
  dout: Tensor; // (B*T, Hq*D)
  dq: Tensor; // (B*T, Hq*D)
  dk: Tensor; // (B*T, Hkv*D)
  dv: Tensor; // (B*T, Hkv*D)
}

/** Row widths of the full buffers, for allocation and the memory plan. */
export function fullRowsWidths(s: Pick<AttentionSizes, "Hq" | "Hkv" | "D">): { forward: number[]; backward: number[] } {
  const q = s.Hq * s.D, kv = s.Hkv * s.D;
  return { forward: [q, kv, kv, q], backward: [q, q, kv, kv] };
}

/** full (B*T, C) = the packed token's row (N, C) of each slot, 0 where the map names none. */
function toFullRows(gpu: Gpu, full: Tensor, packed: Tensor, map: Tensor, r: SharedRows, C: number): void {
  embeddingForward(gpu, full, packed, map, { N: r.B * r.T, C, V: r.N });
}

/** packed (N, C) = the sum of the full slots' rows (B*T, C) that read each packed token. */
export function fromFullRows(gpu: Gpu, packed: Tensor, full: Tensor, r: SharedRows, C: number): void {
  rowGatherSum(gpu, packed, full, r.fromOffsets, r.fromIdx, { N: r.N, M: r.B * r.T, C });
}

/** The final hidden states in the whole-row layout: full (B*T, C) from packed (N, C), 0 at slots past each row's end. */
export function hiddenToFull(gpu: Gpu, full: Tensor, packed: Tensor, r: SharedRows, C: number): void {
  toFullRows(gpu, full, packed, r.toFull, r, C);
}

/** q, k, v of the packed tokens into f's whole (B, T) rows (a prefix token into every row of its group). */
function qkvToFullRows(gpu: Gpu, f: FullRowsForward, q: Tensor, k: Tensor, v: Tensor, r: SharedRows, s: AttentionSizes): void {
  const Q = s.Hq * s.D, KV = s.Hkv * s.D;
  toFullRows(gpu, f.q, q, r.toFull, r, Q);
  toFullRows(gpu, f.k, k, r.toFull, r, KV);
  toFullRows(gpu, f.v, v, r.toFull, r, KV);
}

/** out (N, Hq*D) = causal attention of the packed tokens; `kept` and keep as attentionForwardIn's, over (B, T). */
export function sharedAttentionForward(
  gpu: Gpu,
  mode: AttentionMode,
  out: Tensor, // (N, Hq*D)
  kept: Tensor, // (B, Hq, T, T) att, or (B, Hq, T) lse
  q: Tensor, // (N, Hq*D)
  k: Tensor, // (N, Hkv*D)
  v: Tensor, // (N, Hkv*D)
  r: SharedRows,
  f: FullRowsForward,
  s: AttentionSizes,
  keep = true,
): void {
  const Q = s.Hq * s.D;
  qkvToFullRows(gpu, f, q, k, v, r, s);
  attentionForwardIn(gpu, mode, f.out, kept, f.q, f.k, f.v, s, r.qStart, keep);
  embeddingForward(gpu, out, f.out, r.fromFirst, { N: r.N, C: Q, V: r.B * r.T });
}

/** dq, dk, dv (N, ...) of the packed tokens from dout (N, Hq*D); overwrites them. `scratch` as attentionBackwardIn's. */
export function sharedAttentionBackward(
  gpu: Gpu,
  mode: AttentionMode,
  dq: Tensor, // (N, Hq*D)
  dk: Tensor, // (N, Hkv*D)
  dv: Tensor, // (N, Hkv*D)
  scratch: Tensor, // (B, Hq, T, T) datt, or (B, Hq, T) delta
  dout: Tensor, // (N, Hq*D)
  q: Tensor, // (N, Hq*D)
  k: Tensor, // (N, Hkv*D)
  v: Tensor, // (N, Hkv*D)
  out: Tensor, // (N, Hq*D) the forward's output
  kept: Tensor, // (B, Hq, T, T) att, or (B, Hq, T) lse
  r: SharedRows,
  f: FullRowsForward,
  g: FullRowsBackward,
  s: AttentionSizes,
): void {
  const Q = s.Hq * s.D, KV = s.Hkv * s.D;
  // The full rows of this layer again (the forward's were overwritten by later layers).
  qkvToFullRows(gpu, f, q, k, v, r, s);
  if (mode === "recompute") toFullRows(gpu, f.out, out, r.toFull, r, Q); // its delta reads the output
  toFullRows(gpu, g.dout, dout, r.toFullFirst, r, Q);
  attentionBackwardIn(gpu, mode, g.dq, g.dk, g.dv, scratch, g.dout, f.q, f.k, f.v, f.out, kept, s, r.qStart);
  fromFullRows(gpu, dq, g.dq, r, Q);
  fromFullRows(gpu, dk, g.dk, r, KV);
  fromFullRows(gpu, dv, g.dv, r, KV);
}
