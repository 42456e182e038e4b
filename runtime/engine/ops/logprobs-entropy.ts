// The RL loss head in one pass: log p of the chosen token, the row logsumexp and the
// entropy from a single read of each logits row (the separate ops in logprobs.ts and
// entropy.ts read it once each). Backward writes one dlogits for both terms:
//   dlogits[n, v] = dlogp[n] * (onehot(ids[n])_v - p_v) + dH[n] * (-p_v (log p_v + H[n])).
// Same row rules as rowstats.ts; results equal the separate ops' (same kernel code).
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import type { RowSizes } from "./logprobs.js";
import { rowGrad, rowStats } from "./rowstats.js";

export function logprobsEntropyForward(
  gpu: Gpu,
  logp: Tensor, // (N)
  lse: Tensor, // (N)
  H: Tensor, // (N)
  logits: Tensor, // (N, V)
  ids: Tensor, // (N) u32
  { N, V }: RowSizes,
): void {
  rowStats(gpu, logp, lse, H, logits, ids, N, V);
}

export function logprobsEntropyBackward(
  gpu: Gpu,
  dlogits: Tensor, // (N, V)
  dlogp: Tensor, // (N)
  dH: Tensor, // (N)
  logits: Tensor, // (N, V)
  ids: Tensor, // (N) u32
  lse: Tensor, // (N) from forward
  H: Tensor, // (N) from forward
  { N, V, accumulate = false }: RowSizes & { accumulate?: boolean },
): void {
  rowGrad(gpu, dlogits, dlogp, dH, logits, ids, lse, H, N, V, accumulate);
}
