// RMSNorm with Hugging Face LlamaRMSNorm semantics, fp32, over the last dim C of x (N, C):
//   rstd = 1 / sqrt(mean(x^2) + eps),  out = (x * rstd) * weight.
// Forward saves rstd (N); backward reads it back, with xhat = x * rstd:
//   dx = rstd * (dout*w - xhat * mean(dout*w * xhat)),  dweight = sum_n dout * xhat.
//
// Edge values (tested): a row of zeros gives out = 0 and rstd = 1/sqrt(eps), so eps > 0 keeps
// it finite. When sum(x^2) over a row overflows fp32 (e.g. |x| ~ 2e19 in a row), rstd is 0
// and the row's output and dx are 0 (HF in fp32 does the same: rsqrt(inf) = 0); an infinite
// element gives out NaN there (inf * 0), 0 elsewhere in its row, and a NaN dx row. A NaN
// anywhere in a row makes that row's out, rstd and dx NaN (and dweight, a sum over rows).
//
// Kernels: one workgroup per row (tree reduction in workgroup memory, any C); dweight is a
// deterministic two-pass column sum (wgsl-reduce.ts), no float atomics.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { COL_WG, ROW_WG, WGSL_ROW_INDEX, WGSL_WG_SUM2, columnBlocks, columnSum, rowGrid } from "./wgsl-reduce.js";

const ROW_PARAMS =
  "@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32";

const forwardKernel: Kernel = {
  name: "rmsnorm_forward",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "rstd", access: "read_write" },
    { name: "x", access: "read" },
    { name: "weight", access: "read" },
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
  var ss = 0.0;
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    let v = x[base + c];
    ss += v * v;
  }
  let total = wg_sum2(lid, vec2<f32>(ss, 0.0)).x;
  let r = inverseSqrt(total / f32(u.C) + u.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    out[base + c] = (x[base + c] * r) * weight[c];
  }
}`,
};

const backwardDxKernel: Kernel = {
  name: "rmsnorm_backward_dx",
  bindings: [
    { name: "dx", access: "read_write" },
    { name: "dout", access: "read" },
    { name: "x", access: "read" },
    { name: "weight", access: "read" },
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
  let r = rstd[row];
  var d = 0.0;
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    d += (dout[base + c] * weight[c]) * (x[base + c] * r);
  }
  let m = wg_sum2(lid, vec2<f32>(d, 0.0)).x / f32(u.C);
  for (var c = lid; c < u.C; c += ${ROW_WG}u) {
    dx[base + c] = r * (dout[base + c] * weight[c] - (x[base + c] * r) * m);
  }
}`,
};

/** Pass 1 of dweight: part[p, c] = sum over rows n of block p of dout[n, c] * xhat[n, c]. */
const dweightPartialKernel: Kernel = {
  name: "rmsnorm_dweight_partial",
  bindings: [
    { name: "part", access: "read_write" },
    { name: "dout", access: "read" },
    { name: "x", access: "read" },
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
  var s = 0.0;
  for (var n = p * u.R; n < end; n++) {
    s += dout[n * u.C + c] * (x[n * u.C + c] * rstd[n]);
  }
  part[p * u.C + c] = s;
}`,
};

export interface RmsnormSizes {
  N: number;
  C: number;
}

export function rmsnormForward(
  gpu: Gpu,
  out: Tensor, // (N, C)
  rstd: Tensor, // (N)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  { N, C, eps }: RmsnormSizes & { eps: number },
): void {
  gpu.dispatch(forwardKernel, [out, rstd, x, weight], { N, C, eps }, rowGrid(N));
}

/**
 * dx overwrites; dweight overwrites unless `accumulate` (sum over micro-batches).
 * The (P, C) scratch for dweight's partial sums goes back to the pool right after recording:
 * later work that reuses it is recorded, and so runs, after these dispatches.
 */
export function rmsnormBackward(
  gpu: Gpu,
  dx: Tensor, // (N, C)
  dweight: Tensor, // (C)
  dout: Tensor, // (N, C)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  rstd: Tensor, // (N)
  { N, C, accumulate = false }: RmsnormSizes & { accumulate?: boolean },
): void {
  gpu.dispatch(backwardDxKernel, [dx, dout, x, weight, rstd], { N, C }, rowGrid(N));
  const { P, R } = columnBlocks(N);
  const part = gpu.empty([P, C], "rmsnorm dweight partials");
  gpu.dispatch(dweightPartialKernel, [part, dout, x, rstd], { N, C, R }, [Math.ceil(C / COL_WG), P]);
  columnSum(gpu, dweight, part, P, C, accumulate);
  gpu.release(part);
}
