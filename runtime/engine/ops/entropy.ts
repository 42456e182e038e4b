// Per-row entropy of the softmax of logits: H[n] = -sum_v p_v log p_v, one pass per row
// (rowstats.ts: H = log s - t / s, a sum of two non-negative terms, so H >= 0 and a uniform
// row gives log V, a row with one dominant logit gives ~0). p_v = 0 contributes 0.
// Backward, with log p_v = x_v - lse:  dlogits[n, v] = dH[n] * (-p_v (log p_v + H[n])),
// which is 0 where p_v = 0. Forward saves the logsumexp that backward reads.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import type { RowSizes } from "./logprobs.js";
import { rowGrad, rowStats } from "./rowstats.js";

/** H (N), and lse (N) for backward unless null. */
export function entropyForward(
  gpu: Gpu,
  H: Tensor, // (N)
  lse: Tensor | null, // (N)
  logits: Tensor, // (N, V)
  { N, V }: RowSizes,
): void {
  rowStats(gpu, null, lse, H, logits, null, N, V);
}

/** dlogits (N, V) = dH * (-p (log p + H)); `accumulate` adds into dlogits instead. */
export function entropyBackward(
  gpu: Gpu,
  dlogits: Tensor, // (N, V)
  dH: Tensor, // (N)
  logits: Tensor, // (N, V)
  lse: Tensor, // (N) from entropyForward
  H: Tensor, // (N) from entropyForward
  { N, V, accumulate = false }: RowSizes & { accumulate?: boolean },
): void {
  rowGrad(gpu, dlogits, null, dH, logits, null, lse, H, N, V, accumulate);
}
