// Plain-TypeScript reference for logprobs-entropy.ts: the two separate references combined.
import { entropyBackwardRef, entropyForwardRef } from "./entropy.ref.js";
import { logprobsBackwardRef, logprobsForwardRef } from "./logprobs.ref.js";
import type { Arr } from "./ref-types.js";

export function logprobsEntropyForwardRef(
  logp: Arr, // (N)
  lse: Arr, // (N)
  H: Arr, // (N)
  logits: Arr, // (N, V)
  ids: Uint32Array, // (N)
  N: number,
  V: number,
): void {
  logprobsForwardRef(logp, lse, logits, ids, N, V);
  entropyForwardRef(H, null, logits, N, V);
}

export function logprobsEntropyBackwardRef(
  dlogits: Arr, // (N, V)
  dlogp: Arr, // (N)
  dH: Arr, // (N)
  logits: Arr, // (N, V)
  ids: Uint32Array, // (N)
  lse: Arr, // (N)
  H: Arr, // (N)
  N: number,
  V: number,
): void {
  const fromH = new Float64Array(N * V);
  logprobsBackwardRef(dlogits, dlogp, logits, ids, lse, N, V);
  entropyBackwardRef(fromH, dH, logits, lse, H, N, V);
  for (let i = 0; i < N * V; i++) dlogits[i] = dlogits[i]! + fromH[i]!;
}
