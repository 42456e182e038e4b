// LayerNorm over the last dim C of x (N, C), fp32, PyTorch semantics (biased variance):
//   mean = sum(x) / C,  rstd = 1 / sqrt(sum((x - mean)^2) / C + eps),
//   out = (x - mean) * rstd * weight + bias.
// Forward saves mean and rstd (N); backward, with xhat = (x - mean) * rstd, g = dout * weight:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dweight = sum_n dout * xhat,  dbias = sum_n dout.
//
// Numerics: the variance is computed in a second pass over the row (no E[x^2] - E[x]^2
// cancellation), and the mean sums x * (1/C), so it cannot overflow even for |x| near FLT_MAX.
// Edge values (tested): a row of zeros has xhat = 0, so out = bias exactly; a constant row
// nearly so (its fp32 mean carries rounding, which rstd ~ 1/sqrt(eps) amplifies).
// When sum((x - mean)^2) overflows fp32 (spreads of ~2e19 and up), rstd is 0 and the row's
// out is bias and its dx is 0 (PyTorch's fp32 kernels also give rstd = rsqrt(inf) = 0). An
// infinite or NaN element makes its row's mean, out and dx NaN (and dweight, a sum over rows).
//
// Kernels: one workgroup per row (tree reduction in workgroup memory, any C); dweight and
// dbias are deterministic two-pass column sums (wgsl-reduce.ts), no float atomics.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { COL_WG, ROW_WG, WGSL_ROW_INDEX, WGSL_WG_SUM2, columnBlocks, columnSum, rowGrid } from "./wgsl-reduce.js";

const ROW_PARAMS =
  "@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32";

const forwardKernel: Kernel = {
  name: "layernorm_forward",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "mean", access: "read_write" },
    { name: "rstd", access: "read_write" },
    { name: "x", access: "read" },
    { name: "weight", access: "read" },
    { name: "bias", access: "read" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
    { name: "eps", type: "f32" },
  ],
  workgroupSize: [ROW_WG, 1, 1],
  body: /* wgsl */ `
${WGSL_WG_SUM2}

fn main(${ROW_PARAMS}) {
  let row = ${WGSL_ROW_INDEX};
  if (row >= u.N) { return; }
  let base = row * u.C;
  let inv_c = 1.0 / f32(u.C);
  var s = 0.0;
  for (var c = lid; c < u.C; c += ${ROW_WG}u) { s += x[base + c] * inv_c; }
  let mu = wg_sum2(lid, vec2<f32>(s, 0.0)).x;
  var ss = 0.0;
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    let d = x[base + c] - mu;
    ss += d * d;
  }
  let r = inverseSqrt(wg_sum2(lid, vec2<f32>(ss, 0.0)).x / f32(u.C) + u.eps);
  if (lid == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    out[base + c] = ((x[base + c] - mu) * r) * weight[c] + bias[c];
  }
}`,
};

const backwardDxKernel: Kernel = {
  name: "layernorm_backward_dx",
  bindings: [
    { name: "dx", access: "read_write" },
    { name: "dout", access: "read" },
    { name: "x", access: "read" },
    { name: "weight", access: "read" },
    { name: "mean", access: "read" },
    { name: "rstd", access: "read" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
  ],
  workgroupSize: [ROW_WG, 1, 1],
  body: /* wgsl */ `
${WGSL_WG_SUM2}

fn main(${ROW_PARAMS}) {
  let row = ${WGSL_ROW_INDEX};
  if (row >= u.N) { return; }
  let base = row * u.C;
  let mu = mean[row];
  let r = rstd[row];
  var acc = vec2<f32>(0.0, 0.0); // (sum g, sum g * xhat)
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    let g = dout[base + c] * weight[c];
    acc += vec2<f32>(g, g * ((x[base + c] - mu) * r));
  }
  let m = wg_sum2(lid, acc) / f32(u.C);
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    let g = dout[base + c] * weight[c];
    dx[base + c] = r * (g - m.x - ((x[base + c] - mu) * r) * m.y);
  }
}`,
};

/** Pass 1 of dweight and dbias: sums over the rows of block p, per column. */
const paramPartialKernel: Kernel = {
  name: "layernorm_param_partial",
  bindings: [
    { name: "part_w", access: "read_write" },
    { name: "part_b", access: "read_write" },
    { name: "dout", access: "read" },
    { name: "x", access: "read" },
    { name: "mean", access: "read" },
    { name: "rstd", access: "read" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
    { name: "R", type: "u32" },
  ],
  workgroupSize: [COL_WG, 1, 1],
  body: /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let p = gid.y;
  if (c >= u.C) { return; }
  let end = min(u.N, (p + 1u) * u.R);
  var sw = 0.0;
  var sb = 0.0;
  for (var n = p * u.R; n < end; n++) {
    let g = dout[n * u.C + c];
    sw += g * ((x[n * u.C + c] - mean[n]) * rstd[n]);
    sb += g;
  }
  part_w[p * u.C + c] = sw;
  part_b[p * u.C + c] = sb;
}`,
};

export interface LayernormSizes {
  N: number;
  C: number;
}

export function layernormForward(
  gpu: Gpu,
  out: Tensor, // (N, C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  bias: Tensor, // (C)
  { N, C, eps }: LayernormSizes & { eps: number },
): void {
  gpu.dispatch(forwardKernel, [out, mean, rstd, x, weight, bias], { N, C, eps }, rowGrid(N));
}

/**
 * dx overwrites; dweight and dbias overwrite unless `accumulate` (sum over micro-batches).
 * The scratch partial sums go back to the pool right after recording: work that reuses them
 * is recorded, and so runs, after these dispatches.
 */
export function layernormBackward(
  gpu: Gpu,
  dx: Tensor, // (N, C)
  dweight: Tensor, // (C)
  dbias: Tensor, // (C)
  dout: Tensor, // (N, C)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  mean: Tensor, // (N)
  rstd: Tensor, // (N)
  { N, C, accumulate = false }: LayernormSizes & { accumulate?: boolean },
): void {
  gpu.dispatch(backwardDxKernel, [dx, dout, x, weight, mean, rstd], { N, C }, rowGrid(N));
  const { P, R } = columnBlocks(N);
  const partW = gpu.empty([P, C], "layernorm dweight partials");
  const partB = gpu.empty([P, C], "layernorm dbias partials");
  gpu.dispatch(paramPartialKernel, [partW, partB, dout, x, mean, rstd], { N, C, R }, [Math.ceil(C / COL_WG), P]);
  columnSum(gpu, dweight, partW, P, C, accumulate);
  columnSum(gpu, dbias, partB, P, C, accumulate);
  gpu.release(partW, partB);
}
