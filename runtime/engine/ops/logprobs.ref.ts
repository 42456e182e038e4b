// Plain-TypeScript reference for logprobs.ts.
import type { Arr } from "./ref-types.js";
import { rowStatRef } from "./rowstats.ref.js";

export function logprobsForwardRef(
  logp: Arr, // (N)
  lse: Arr | null, // (N)
  logits: Arr, // (N, V)
  ids: Uint32Array, // (N)
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const r = rowStatRef(logits, n, V);
    const id = ids[n]!;
    logp[n] = r.bad || id >= V ? NaN : logits[n * V + id]! - r.m - r.logs;
    if (lse) lse[n] = r.lse;
  }
}

export function logprobsBackwardRef(
  dlogits: Arr, // (N, V)
  dlogp: Arr, // (N)
  logits: Arr, // (N, V)
  ids: Uint32Array, // (N)
  lse: Arr, // (N)
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[n * V + v]! - lse[n]!);
      dlogits[n * V + v] = dlogp[n]! * ((v === ids[n] ? 1 : 0) - p);
    }
  }
}

export function logSoftmaxForwardRef(out: Arr, x: Arr, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    const r = rowStatRef(x, n, V);
    for (let v = 0; v < V; v++) out[n * V + v] = r.bad ? NaN : x[n * V + v]! - r.m - r.logs;
  }
}

export function logSoftmaxBackwardRef(dx: Arr, dout: Arr, out: Arr, N: number, V: number): void {
  for (let n = 0; n < N; n++) {
    let total = 0;
    for (let v = 0; v < V; v++) total += dout[n * V + v]!;
    for (let v = 0; v < V; v++) dx[n * V + v] = dout[n * V + v]! - Math.exp(out[n * V + v]!) * total;
  }
}
