// Plain-TypeScript reference for entropy.ts.
import type { Arr } from "./ref-types.js";
import { rowStatRef } from "./rowstats.ref.js";

export function entropyForwardRef(
  H: Arr, // (N)
  lse: Arr | null, // (N)
  logits: Arr, // (N, V)
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const r = rowStatRef(logits, n, V);
    H[n] = r.entropy;
    if (lse) lse[n] = r.lse;
  }
}

/** Entropy straight from its definition, -sum p log p with 0 log 0 = 0: a second opinion. */
export function entropyDirectRef(logits: Arr, n: number, V: number): number {
  const { lse } = rowStatRef(logits, n, V);
  let h = 0;
  for (let v = 0; v < V; v++) {
    const lp = logits[n * V + v]! - lse;
    const p = Math.exp(lp);
    if (p > 0) h -= p * lp;
  }
  return h;
}

export function entropyBackwardRef(
  dlogits: Arr, // (N, V)
  dH: Arr, // (N)
  logits: Arr, // (N, V)
  lse: Arr, // (N)
  H: Arr, // (N)
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      const lp = logits[n * V + v]! - lse[n]!;
      const p = Math.exp(lp);
      dlogits[n * V + v] = p > 0 ? dH[n]! * (-p * (lp + H[n]!)) : 0;
    }
  }
}
