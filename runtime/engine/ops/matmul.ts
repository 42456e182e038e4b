// Batched matmul with transposes, alpha/beta and a bias epilogue:
//   out[b] = alpha * op(A[b]) @ op(B[b]) + beta * out[b] (+ bias),  out (batch, M, N).
// op(A) is (M, K): A is stored (M, K), or (K, M) with transA. op(B) is (K, N): B is stored
// (K, N), or (N, K) with transB. Per-operand batch strides let one weight serve the whole
// batch (stride 0). The algorithm is fixed; *how* it runs is a schedule ("variant"), chosen
// per adapter and shape class by measurement (matmul-autotune.ts, cached on disk), else
// by default workgroup-memory tiles on GPUs and register blocking on CPU rasterisers. A
// variant only reorders the k-sum, so results agree to fp32 rounding.
export * from "./matmul/product.js";
export { sumRows } from "./matmul/sum-rows.js";
export { linearBackward, linearForward } from "./matmul/linear.js";
export { matmulBackward } from "./matmul/backward.js";
