// Causal GQA attention that never holds a (B, Hq, T, T) buffer ("recompute", flash style),
// forward and backward, fp32. Same layouts and meaning as attention.ts:
//   q, out, dq, dout: (B, T, Hq, D)   k, v, dk, dv: (B, T, Hkv, D)   lse, delta: (B, Hq, T)
//
// Forward keeps out and the per-row log-sum-exp lse = m + log(sum_j exp(s_j - m)) of the
// scaled scores s = scale * q.k, computed with an online softmax over key chunks (a running
// max m, sum l and output o, rescaled as the max grows), so no row of scores is stored.
// Backward recomputes each score from q, k and lse: p = exp(s - lse) is the probability the
// forward used, and with delta = dout . out (= sum_j p_j dp_j),
//   dp = dout . v,  ds = scale * p * (dp - delta),  dq = sum_j ds k_j,
//   dk_j = sum_t ds q_t,  dv_j = sum_t p dout_t   (dk, dv summed over the G heads sharing kv).
// Two kernels, both deterministic (fixed order, no atomics): per query row (dq, and delta
// written for the second), then per key row (dk, dv).
//
// Cost: ~7*D flops per (row, key) in backward against saved-P's ~4*D (attention.ts's
// header), for O(B Hq T) memory instead of O(B Hq T^2): attention-mode.ts uses this only
// where the saved probabilities would not bind.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { type AttentionSchedule, type AttentionSizes, attentionSchedule, attentionUniforms, expectSize, offsetBuffers } from "./attention.js";
import { backwardKvLseKernel, backwardQueryLseKernel, forwardLseKernel } from "./attention-recompute-wgsl.js";
import { TILE } from "./attention-tile.js";

const memo = new Map<string, Kernel>();
function memoKernel(key: string, make: () => Kernel): Kernel {
  let k = memo.get(key);
  if (!k) memo.set(key, (k = make()));
  return k;
}

function checkSizes(name: string, s: AttentionSizes, tensors: [Tensor, "q" | "kv" | "row", string][]): Record<string, number> {
  const u = attentionUniforms(name, s);
  const n = { q: s.B * s.T * s.Hq * s.D, kv: s.B * s.T * s.Hkv * s.D, row: s.B * s.Hq * s.T };
  for (const [t, kind, what] of tensors) expectSize(name, t, n[kind], what);
  return u;
}

/**
 * out = softmax(q k^T * scale, causal) v per head; keeps the per-row log-sum-exp in lse. With
 * qStart, row b computes only its queries t >= qStart[b]; out and lse are 0 at the others.
 */
export function attentionForwardLse(
  gpu: Gpu,
  out: Tensor, // (B, T, Hq, D)
  lse: Tensor, // (B, Hq, T) log-sum-exp of each row's scaled scores
  q: Tensor, // (B, T, Hq, D)
  k: Tensor, // (B, T, Hkv, D)
  v: Tensor, // (B, T, Hkv, D)
  s: AttentionSizes,
  schedule: AttentionSchedule = attentionSchedule(gpu),
  qStart?: Tensor, // (B) u32
): void {
  const u = checkSizes("attentionForwardLse", s, [[out, "q", "out"], [lse, "row", "lse"], [q, "q", "q"], [k, "kv", "k"], [v, "kv", "v"]]);
  const extra = offsetBuffers("attentionForwardLse", s, qStart), o = extra.length > 0;
  const kernel = memoKernel(`fwd-${schedule}${s.D}${o ? "o" : ""}`, () => forwardLseKernel(s.D, schedule, o));
  gpu.dispatch(kernel, [out, lse, q, k, v, ...extra], u, [Math.ceil(((s.Hq / s.Hkv) * s.T) / TILE), s.Hkv, s.B]);
}

/**
 * dq, dk, dv from dout and the forward's out and lse. Overwrites dq, dk, dv; delta is scratch
 * (B, Hq, T) that ends holding dout . out per row. dk and dv are summed over the query heads
 * that share each kv head. With qStart (the forward's), dq is 0 at the skipped queries and
 * dk, dv of key j in row b sum over t >= max(j, qStart[b]).
 */
export function attentionBackwardLse(
  gpu: Gpu,
  dq: Tensor, // (B, T, Hq, D)
  dk: Tensor, // (B, T, Hkv, D)
  dv: Tensor, // (B, T, Hkv, D)
  delta: Tensor, // (B, Hq, T) scratch
  dout: Tensor, // (B, T, Hq, D)
  q: Tensor, // (B, T, Hq, D)
  k: Tensor, // (B, T, Hkv, D)
  v: Tensor, // (B, T, Hkv, D)
  out: Tensor, // (B, T, Hq, D) from attentionForwardLse
  lse: Tensor, // (B, Hq, T) from attentionForwardLse
  s: AttentionSizes,
  schedule: AttentionSchedule = attentionSchedule(gpu),
  qStart?: Tensor, // (B) u32
): void {
  const u = checkSizes("attentionBackwardLse", s, [
    [dq, "q", "dq"], [dk, "kv", "dk"], [dv, "kv", "dv"], [delta, "row", "delta"], [dout, "q", "dout"],
    [q, "q", "q"], [k, "kv", "k"], [v, "kv", "v"], [out, "q", "out"], [lse, "row", "lse"],
  ]);
  const extra = offsetBuffers("attentionBackwardLse", s, qStart), o = extra.length > 0, oKey = o ? "o" : "";
  const kq = memoKernel(`bq-${schedule}${s.D}${oKey}`, () => backwardQueryLseKernel(s.D, schedule, o));
  const kkv = memoKernel(`bkv-${schedule}${s.D}${oKey}`, () => backwardKvLseKernel(s.D, schedule, o));
  gpu.dispatch(kq, [dq, delta, dout, out, q, k, v, lse, ...extra], u, [Math.ceil(((s.Hq / s.Hkv) * s.T) / TILE), s.Hkv, s.B]);
  gpu.dispatch(kkv, [dk, dv, dout, q, k, v, lse, delta, ...extra], u, [Math.ceil(s.T / TILE), s.Hkv, s.B]);
}
