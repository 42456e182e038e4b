// Plain-TypeScript reference for attention-decode.ts.
// Cache layout (B, Hkv, Tmax, D); new k/v and q, out in (B, Tq, H, D).
import type { Arr } from "./ref-types.js";

export function appendKVRef(kCache: Arr, vCache: Arr, k: Arr, v: Arr, start: ArrayLike<number>, B: number, Tq: number, Hkv: number, D: number, Tmax: number): void {
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const p = start[b]! + i;
      if (p >= Tmax) continue;
      for (let h = 0; h < Hkv; h++) {
        for (let d = 0; d < D; d++) {
          const src = ((b * Tq + i) * Hkv + h) * D + d;
          const dst = ((b * Hkv + h) * Tmax + p) * D + d;
          kCache[dst] = k[src]!;
          vCache[dst] = v[src]!;
        }
      }
    }
  }
}

export function attentionDecodeRef(
  out: Arr, q: Arr, kCache: Arr, vCache: Arr, start: ArrayLike<number>,
  s: { B: number; Tq: number; Hq: number; Hkv: number; D: number; Tmax: number },
): void {
  const { B, Tq, Hq, Hkv, D, Tmax } = s;
  const G = Hq / Hkv;
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const pos = start[b]! + i;
      for (let h = 0; h < Hq; h++) {
        const qo = ((b * Tq + i) * Hq + h) * D;
        if (pos >= Tmax) {
          for (let d = 0; d < D; d++) out[qo + d] = NaN;
          continue;
        }
        const kvh = Math.floor(h / G);
        const base = (b * Hkv + kvh) * Tmax * D;
        const sc = new Float64Array(pos + 1);
        let m = -Infinity;
        for (let j = 0; j <= pos; j++) {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += q[qo + d]! * kCache[base + j * D + d]!;
          sc[j] = acc * scale;
          if (sc[j]! > m) m = sc[j]!;
        }
        let sum = 0;
        for (let j = 0; j <= pos; j++) {
          sc[j] = Math.exp(sc[j]! - m);
          sum += sc[j]!;
        }
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j <= pos; j++) acc += sc[j]! * vCache[base + j * D + d]!;
          out[qo + d] = acc / sum;
        }
      }
    }
  }
}
