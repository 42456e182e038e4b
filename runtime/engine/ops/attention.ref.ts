// Plain-TypeScript reference for attention.ts: causal GQA attention with explicit loops.
// Layouts: q, out (B, T, Hq, D); k, v (B, T, Hkv, D); att (B, Hq, T, T).
// qStart (B), optional: row b computes only its queries t >= qStart[b] (the shared-prefix
// layout's query offset); the others' outputs are 0 and they add nothing to any gradient.
import type { Arr } from "./ref-types.js";

export interface AttentionRefSizes {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
}

export function attentionForwardRef(out: Arr, att: Arr, q: Arr, k: Arr, v: Arr, s: AttentionRefSizes, qStart?: ArrayLike<number>): void {
  const { B, T, Hq, Hkv, D } = s;
  const G = Hq / Hkv;
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / G);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * Hq + h) * D;
        const po = ((b * Hq + h) * T + t) * T;
        if (t < (qStart?.[b] ?? 0)) {
          for (let d = 0; d < D; d++) out[qo + d] = 0;
          for (let j = 0; j < T; j++) att[po + j] = 0;
          continue;
        }
        let m = -Infinity;
        for (let j = 0; j <= t; j++) {
          const ko = ((b * T + j) * Hkv + kvh) * D;
          let dotv = 0;
          for (let d = 0; d < D; d++) dotv += q[qo + d]! * k[ko + d]!;
          att[po + j] = dotv * scale;
          if (att[po + j]! > m) m = att[po + j]!;
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) {
          att[po + j] = Math.exp(att[po + j]! - m);
          sum += att[po + j]!;
        }
        for (let j = 0; j < T; j++) att[po + j] = j <= t ? att[po + j]! / sum : 0;
        for (let d = 0; d < D; d++) {
          let o = 0;
          for (let j = 0; j <= t; j++) o += att[po + j]! * v[((b * T + j) * Hkv + kvh) * D + d]!;
          out[qo + d] = o;
        }
      }
    }
  }
}

/** Gradients of L = <out, dout>; dk and dv summed over the query heads sharing a kv head. */
export function attentionBackwardRef(dq: Arr, dk: Arr, dv: Arr, dout: Arr, q: Arr, k: Arr, v: Arr, att: Arr, s: AttentionRefSizes, qStart?: ArrayLike<number>): void {
  const { B, T, Hq, Hkv, D } = s;
  const G = Hq / Hkv;
  const scale = 1 / Math.sqrt(D);
  dq.fill(0);
  dk.fill(0);
  dv.fill(0);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / G);
      for (let t = qStart?.[b] ?? 0; t < T; t++) {
        const qo = ((b * T + t) * Hq + h) * D;
        const po = ((b * Hq + h) * T + t) * T;
        // dp_j = dout_t . v_j; softmax backward: ds_j = p_j (dp_j - sum_i p_i dp_i).
        let delta = 0;
        for (let j = 0; j <= t; j++) {
          const vo = ((b * T + j) * Hkv + kvh) * D;
          let acc = 0;
          for (let d = 0; d < D; d++) acc += dout[qo + d]! * v[vo + d]!;
          dp[j] = acc;
          delta += att[po + j]! * acc;
        }
        for (let j = 0; j <= t; j++) {
          const ko = ((b * T + j) * Hkv + kvh) * D;
          const p = att[po + j]!;
          const ds = p * (dp[j]! - delta) * scale;
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
