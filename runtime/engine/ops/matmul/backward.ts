// Gradients of C = op(A) @ op(B) (the general batched product; linear.ts is the special
// case with a shared weight). With G = dC (M, N):
//   d op(A) = G @ op(B)^T   (M, K)        d op(B) = op(A)^T @ G   (K, N)
// and each gradient is written in its operand's own storage layout, which for a transposed
// operand means the transposed product: dA stored (K, M) = op(B) @ G^T, dB stored (N, K) = G^T @ op(A).
import type { Gpu } from "../../gpu.js";
import type { Tensor } from "../../tensor.js";
import { type MatmulArgs, matmul } from "./product.js";

export type MatmulBackwardArgs = Pick<MatmulArgs, "M" | "N" | "K" | "batch" | "transA" | "transB" | "strideA" | "strideB" | "strideC" | "variant"> & {
  /** Add into dA and dB instead of overwriting them. */
  accumulate?: boolean;
};

/**
 * dA and dB of a batched product recorded with `matmul(gpu, c, a, b, args)` (no alpha/beta/bias).
 * An operand shared across the batch (stride 0) gets a sum over the batch; that sum is a
 * product of the whole batch only when the batch folds into rows, as in linearBackward, so
 * here it is refused: call linearBackward, or give each batch item its own copy.
 */
export function matmulBackward(
  gpu: Gpu,
  da: Tensor | null, // (batch, M, K), or (batch, K, M) with transA
  db: Tensor | null, // (batch, K, N), or (batch, N, K) with transB
  dc: Tensor, // (batch, M, N)
  a: Tensor, // as in the forward
  b: Tensor, // as in the forward
  args: MatmulBackwardArgs,
): void {
  const { M, N, K, batch = 1, transA = false, transB = false, accumulate = false, variant } = args;
  const strideA = args.strideA ?? M * K, strideB = args.strideB ?? K * N, strideC = args.strideC ?? M * N;
  const beta = accumulate ? 1 : 0;
  if (batch > 1 && ((da && strideA === 0) || (db && strideB === 0))) {
    throw new Error("matmulBackward: an operand shared across the batch (stride 0) needs its gradient summed over the batch; use linearBackward");
  }
  const common = { batch, beta, variant };
  if (da) {
    if (!transA) matmul(gpu, da, dc, b, { ...common, M, N: K, K: N, transB: !transB, strideA: strideC, strideB, strideC: strideA });
    else matmul(gpu, da, b, dc, { ...common, M: K, N: M, K: N, transA: transB, transB: true, strideA: strideB, strideB: strideC, strideC: strideA });
  }
  if (db) {
    if (!transB) matmul(gpu, db, a, dc, { ...common, M: K, N, K: M, transA: !transA, strideA, strideB: strideC, strideC: strideB });
    else matmul(gpu, db, dc, a, { ...common, M: N, N: K, K: M, transA: true, transB: transA, strideA: strideC, strideB: strideA, strideC: strideB });
  }
}
