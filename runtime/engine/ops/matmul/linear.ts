// A linear layer in the llm.c style, with the weight stored (OC, C) as Hugging Face stores
// nn.Linear: out = x @ W^T + b. Backward is three products of the same operands:
//   dx = dout @ W          (N, OC) @ (OC, C)      A and B as stored
//   dW = dout^T @ x        (OC, N) @ (N, C)       A transposed
//   db = sum over rows of dout
import type { Gpu } from "../../gpu.js";
import type { Tensor } from "../../tensor.js";
import { matmul } from "./product.js";
import { sumRows } from "./sum-rows.js";

export interface LinearDims {
  /** Rows (tokens). */
  N: number;
  /** Input features. */
  C: number;
  /** Output features. */
  OC: number;
}

/** out = x @ weight^T + bias. */
export function linearForward(
  gpu: Gpu,
  out: Tensor, // (N, OC)
  x: Tensor, // (N, C)
  weight: Tensor, // (OC, C)
  bias: Tensor | null, // (OC)
  dims: LinearDims,
): void {
  const { N, C, OC } = dims;
  matmul(gpu, out, x, weight, { M: N, N: OC, K: C, transB: true, bias });
}

/**
 * dx = dout @ weight; dweight = dout^T @ x; dbias = column sums of dout.
 * dx is overwritten; dweight and dbias are overwritten, or added to with `accumulate`
 * (gradients summed over micro-batches). Pass null for a gradient nobody needs.
 */
export function linearBackward(
  gpu: Gpu,
  dx: Tensor | null, // (N, C)
  dweight: Tensor | null, // (OC, C)
  dbias: Tensor | null, // (OC)
  dout: Tensor, // (N, OC)
  x: Tensor, // (N, C)
  weight: Tensor, // (OC, C)
  dims: LinearDims & { accumulate?: boolean },
): void {
  const { N, C, OC, accumulate = false } = dims;
  if (dx) matmul(gpu, dx, dout, weight, { M: N, N: C, K: OC });
  if (dweight) matmul(gpu, dweight, dout, x, { M: OC, N: C, K: N, transA: true, beta: accumulate ? 1 : 0 });
  if (dbias) sumRows(gpu, dbias, dout, { M: N, N: OC, accumulate });
}
