// Shared pieces of every matmul schedule: the problem description, the uniform block,
// and the WGSL index expressions for the four storage layouts (transA / transB).
import type { Binding, Uniform } from "../../kernel.js";

/** What a matmul kernel is compiled for; everything else travels as uniforms. */
export interface MatmulShape {
  /** A stored (K, M) instead of (M, K). */
  transA: boolean;
  /** B stored (N, K) instead of (K, N). */
  transB: boolean;
}

export const MATMUL_UNIFORMS: Uniform[] = [
  { name: "M", type: "u32" },
  { name: "N", type: "u32" },
  { name: "K", type: "u32" },
  { name: "strideA", type: "u32" }, // elements between batch items of A (0: shared)
  { name: "strideB", type: "u32" },
  { name: "strideC", type: "u32" },
  { name: "rowOffset", type: "u32" }, // first row of this dispatch (grids over 65535 row blocks)
  { name: "alpha", type: "f32" },
  { name: "beta", type: "f32" },
  { name: "hasBias", type: "u32" },
];

/**
 * Bindings in dispatch order. The bias is always bound (a flag in the uniforms says whether
 * to add it) so that one pipeline per layout serves both cases: lavapipe compiles each
 * pipeline for seconds.
 */
export const MATMUL_BINDINGS: Binding[] = [
  { name: "c", access: "read_write" },
  { name: "a", access: "read" },
  { name: "b", access: "read" },
  { name: "bias", access: "read" },
];

/** Key fragment naming the layout, for kernel names ("nt" = A as stored, B transposed). */
export const layoutName = (s: MatmulShape): string => `${s.transA ? "t" : "n"}${s.transB ? "t" : "n"}`;

/**
 * WGSL epilogue for one output element `v` (= op(A) op(B) at row `m`, column `n`), written
 * to `c[idx]`: alpha * v (+ beta * c) (+ bias[n]). beta == 0 never reads c, so stale NaNs
 * in a fresh buffer do not leak into the result (0 * NaN = NaN).
 */
export const EPILOGUE = /* wgsl */ `
fn epilogue(idx: u32, n: u32, v: f32) {
  var r = u.alpha * v;
  if (u.beta != 0.0) { r = r + u.beta * c[idx]; }
  if (u.hasBias != 0u) { r = r + bias[n]; }
  c[idx] = r;
}`;
