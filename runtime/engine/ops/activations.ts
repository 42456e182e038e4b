// Activations, fp32, element-wise, forward and backward:
//   SiLU    silu(x) = x * sigmoid(x)
//   SwiGLU  out = silu(gate) * up                       (the Llama MLP; gate, up, out all (N, F))
//   GELU    exact:  x * Phi(x) = 0.5 x erfc(-x / sqrt 2)             (HF "gelu")
//           tanh:   0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//                   (HF "gelu_pytorch_tanh" / "gelu_new"), evaluated as x * sigmoid(2u),
//                   the same function without the cancellation of 1 + tanh(u) for x << 0.
//
// Edge values (tested): no exp ever sees a positive argument (wgsl-math.ts), so large |x|
// saturates instead of overflowing: silu(+-1e4) = (1e4, 0), gelu(-89) = 0, and at +-inf every
// activation takes its limit (inf or 0) and every derivative its limit (1 or 0). The x^3 of
// GELU-tanh overflows to inf for |x| > ~7e12, which only pushes sigmoid further into its
// saturated end. NaN in gives NaN out (and NaN gradients).
import type { Gpu } from "../gpu.js";
import type { Binding, Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";
import { WGSL_ERF, WGSL_MUL_LIM, WGSL_SIGMOID } from "./wgsl-math.js";

/** Lanes per workgroup of the element-wise kernels. */
export const ELEMENTWISE_WG = 256;
const WG = ELEMENTWISE_WG;

/** WGSL: scalar activations and their derivatives, built on the safe helpers of wgsl-math.ts. */
export const WGSL_ACTIVATIONS = /* wgsl */ `
${WGSL_MUL_LIM}
${WGSL_SIGMOID}
${WGSL_ERF}

fn silu(x: f32) -> f32 {
  return mul_lim(x, sigmoid2(x).x);
}

// d/dx x s(x) = s (1 + x (1 - s)); mul_lim keeps the limits at +-inf (1 and 0).
fn silu_grad(x: f32) -> f32 {
  let s = sigmoid2(x);
  return mul_lim(1.0 + mul_lim(x, s.y), s.x);
}

fn gelu_erf(x: f32) -> f32 {
  return mul_lim(x, 0.5 * erfc_f32(-0.70710678 * x));
}

// d/dx x Phi(x) = Phi(x) + x phi(x).
fn gelu_erf_grad(x: f32) -> f32 {
  let cdf = 0.5 * erfc_f32(-0.70710678 * x);
  let pdf = 0.39894228 * exp(-0.5 * x * x);
  return cdf + mul_lim(x, pdf);
}

fn gelu_tanh(x: f32) -> f32 {
  let u = 0.79788456 * x * (1.0 + 0.044715 * x * x);
  return mul_lim(x, sigmoid2(2.0 * u).x);
}

// d/dx x s(2u) = s + 2 x u' s (1 - s), with s (1 - s) = e / (1 + e)^2, e = exp(-|2u|).
fn gelu_tanh_grad(x: f32) -> f32 {
  let x2 = x * x;
  let u2 = 2.0 * 0.79788456 * x * (1.0 + 0.044715 * x2);
  let e = exp(-abs(u2));
  let s = sigmoid2(u2).x;
  let q = e / ((1.0 + e) * (1.0 + e));
  let du2 = 2.0 * 0.79788456 * (1.0 + 3.0 * 0.044715 * x2);
  return s + mul_lim(x * du2, q);
}`;

export type GeluApproximation = "none" | "tanh";

const f = (name: string, access: Binding["access"]): Binding => ({ name, access });

/**
 * An element-wise kernel over n items with WGSL_ACTIVATIONS in scope: `stmt` assigns the
 * outputs at index i. Uniforms: n, then `uniforms` (decode-swiglu.ts reads its row width F).
 */
export function elementwise(name: string, bindings: Binding[], stmt: string, uniforms: Kernel["uniforms"] = []): Kernel {
  return {
    name,
    bindings,
    uniforms: [{ name: "n", type: "u32" }, ...uniforms],
    workgroupSize: [WG, 1, 1],
    body: /* wgsl */ `
${WGSL_ACTIVATIONS}

fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  ${stmt}
}`,
  };
}

const K = {
  silu: elementwise("silu_forward", [f("out", "read_write"), f("x", "read")], "out[i] = silu(x[i]);"),
  siluGrad: elementwise(
    "silu_backward",
    [f("dx", "read_write"), f("dout", "read"), f("x", "read")],
    "dx[i] = dout[i] * silu_grad(x[i]);",
  ),
  swiglu: elementwise(
    "swiglu_forward",
    [f("out", "read_write"), f("gate", "read"), f("up", "read")],
    "out[i] = silu(gate[i]) * up[i];",
  ),
  swigluGrad: elementwise(
    "swiglu_backward",
    [f("dgate", "read_write"), f("dup", "read_write"), f("dout", "read"), f("gate", "read"), f("up", "read")],
    `let g = gate[i];
  let d = dout[i];
  dup[i] = d * silu(g);
  dgate[i] = (d * up[i]) * silu_grad(g);`,
  ),
  gelu: {
    none: elementwise("gelu_forward", [f("out", "read_write"), f("x", "read")], "out[i] = gelu_erf(x[i]);"),
    tanh: elementwise("gelu_tanh_forward", [f("out", "read_write"), f("x", "read")], "out[i] = gelu_tanh(x[i]);"),
  },
  geluGrad: {
    none: elementwise(
      "gelu_backward",
      [f("dx", "read_write"), f("dout", "read"), f("x", "read")],
      "dx[i] = dout[i] * gelu_erf_grad(x[i]);",
    ),
    tanh: elementwise(
      "gelu_tanh_backward",
      [f("dx", "read_write"), f("dout", "read"), f("x", "read")],
      "dx[i] = dout[i] * gelu_tanh_grad(x[i]);",
    ),
  },
};

const run = (gpu: Gpu, k: Kernel, ts: Tensor[], n: number): void => gpu.dispatch(k, ts, { n }, grid1d(n, WG));

export function siluForward(
  gpu: Gpu,
  out: Tensor, // (n)
  x: Tensor, // (n)
  n = out.size,
): void {
  run(gpu, K.silu, [out, x], n);
}

export function siluBackward(
  gpu: Gpu,
  dx: Tensor, // (n)
  dout: Tensor, // (n)
  x: Tensor, // (n)
  n = dx.size,
): void {
  run(gpu, K.siluGrad, [dx, dout, x], n);
}

/** out = silu(gate) * up. The Llama MLP's gate: all three (N, F), n = N * F. */
export function swigluForward(
  gpu: Gpu,
  out: Tensor, // (N, F)
  gate: Tensor, // (N, F)
  up: Tensor, // (N, F)
  n = out.size,
): void {
  run(gpu, K.swiglu, [out, gate, up], n);
}

/** dgate = dout * up * silu'(gate), dup = dout * silu(gate); both overwrite. */
export function swigluBackward(
  gpu: Gpu,
  dgate: Tensor, // (N, F)
  dup: Tensor, // (N, F)
  dout: Tensor, // (N, F)
  gate: Tensor, // (N, F)
  up: Tensor, // (N, F)
  n = dout.size,
): void {
  run(gpu, K.swigluGrad, [dgate, dup, dout, gate, up], n);
}

export function geluForward(
  gpu: Gpu,
  out: Tensor, // (n)
  x: Tensor, // (n)
  { approximate = "none", n = out.size }: { approximate?: GeluApproximation; n?: number } = {},
): void {
  run(gpu, K.gelu[approximate], [out, x], n);
}

export function geluBackward(
  gpu: Gpu,
  dx: Tensor, // (n)
  dout: Tensor, // (n)
  x: Tensor, // (n)
  { approximate = "none", n = dx.size }: { approximate?: GeluApproximation; n?: number } = {},
): void {
  run(gpu, K.geluGrad[approximate], [dx, dout, x], n);
}
