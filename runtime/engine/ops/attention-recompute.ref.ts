// Plain-TypeScript reference for attention-recompute.ts: causal GQA attention that keeps the
// per-row log-sum-exp instead of the probabilities, and a backward that recomputes them.
// Layouts: q, out (B, T, Hq, D); k, v (B, T, Hkv, D); lse (B, Hq, T).
// qStart (B), optional, as attention.ref.ts's: rows below it get out and lse 0 and no gradient.
import type { AttentionRefSizes } from "./attention.ref.js";
import type { Arr } from "./ref-types.js";

/** scale * q_t . k_j for query row (b, t, h) and key (b, j, h's kv head). */
function score(q: Arr, k: Arr, s: AttentionRefSizes, b: number, h: number, t: number, j: number): number {
  const { T, Hq, Hkv, D } = s;
  const qo = ((b * T + t) * Hq + h) * D, ko = ((b * T + j) * Hkv + Math.floor(h / (Hq / Hkv))) * D;
  let dotv = 0;
  for (let d = 0; d < D; d++) dotv += q[qo + d]! * k[ko + d]!;
  return dotv / Math.sqrt(D);
}

export function attentionForwardLseRef(out: Arr, lse: Arr, q: Arr, k: Arr, v: Arr, s: AttentionRefSizes, qStart?: ArrayLike<number>): void {
  const { B, T, Hq, Hkv, D } = s;
  const sc = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / (Hq / Hkv));
      for (let t = 0; t < T; t++) {
        if (t < (qStart?.[b] ?? 0)) {
          lse[(b * Hq + h) * T + t] = 0;
          for (let d = 0; d < D; d++) out[((b * T + t) * Hq + h) * D + d] = 0;
          continue;
        }
        let m = -Infinity;
        for (let j = 0; j <= t; j++) {
          sc[j] = score(q, k, s, b, h, t, j);
          if (sc[j]! > m) m = sc[j]!;
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += Math.exp(sc[j]! - m);
        const L = m + Math.log(sum);
        lse[(b * Hq + h) * T + t] = L;
        const qo = ((b * T + t) * Hq + h) * D;
        for (let d = 0; d < D; d++) {
          let o = 0;
          for (let j = 0; j <= t; j++) o += Math.exp(sc[j]! - L) * v[((b * T + j) * Hkv + kvh) * D + d]!;
          out[qo + d] = o;
        }
      }
    }
  }
}

/** Gradients of L = <out, dout> from out and lse; dk and dv summed over the query heads sharing a kv head. */
export function attentionBackwardLseRef(dq: Arr, dk: Arr, dv: Arr, dout: Arr, q: Arr, k: Arr, v: Arr, out: Arr, lse: Arr, s: AttentionRefSizes, qStart?: ArrayLike<number>): void {
  const { B, T, Hq, Hkv, D } = s;
  const scale = 1 / Math.sqrt(D);
  dq.fill(0);
  dk.fill(0);
  dv.fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / (Hq / Hkv));
      for (let t = qStart?.[b] ?? 0; t < T; t++) {
        const qo = ((b * T + t) * Hq + h) * D;
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dout[qo + d]! * out[qo + d]!;
        const L = lse[(b * Hq + h) * T + t]!;
        for (let j = 0; j <= t; j++) {
          const ko = ((b * T + j) * Hkv + kvh) * D;
          const p = Math.exp(score(q, k, s, b, h, t, j) - L);
          let dp = 0;
          for (let d = 0; d < D; d++) dp += dout[qo + d]! * v[ko + d]!;
          const ds = scale * p * (dp - delta);
          for (let d = 0; d < D; d++) {
            dq[qo + d] = dq[qo + d]! + ds * k[ko + d]!;
            dk[ko + d] = dk[ko + d]! + ds * q[qo + d]!;
            dv[ko + d] = dv[ko + d]! + p * dout[qo + d]!;
          }
        }
      }
    }
  }
}
