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
// Kernels: two schedules for the row pass, the same arithmetic up to the order of the row sum.
// "tree": one workgroup per row, tree reduction in workgroup memory (any C; what GPUs want).
// "lane": one row per lane with vec4 loads and no barriers (C a multiple of 4; what CPU
// rasterisers want: on lavapipe a workgroup barrier is expensive and a 128-lane tree for a
// 128-wide row spends most of its time in them). dweight is a deterministic two-pass column
// sum (wgsl-reduce.ts), no float atomics.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";
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

/** Rows per workgroup of the one-row-per-lane kernels. */
export const LANE_WG = 32;

/** A storage binding read as vec4<f32> (the lane kernels' rows). */
export const v4 = (name: string, access: "read" | "read_write") => ({ name, access, type: "vec4<f32>" as const });

/**
 * WGSL: the "lane" forward's main, one row of vec4s per lane: rstd[row] = 1/rms, out = (x * rstd)
 * * weight. `load` is the statement that sets `v`, the row element at x[base + c] whose square
 * is summed (decode-add-norm.ts adds the residual there, so both kernels share every other
 * float operation and its order). Bindings out, rstd, x, weight; uniforms N, C, eps.
 */
export function wgslRmsnormLaneMain(load = "let v = x[base + c];"): string {
  return /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let row = ${FLAT_INDEX(LANE_WG)};
  if (row >= u.N) { return; }
  let C4 = u.C / 4u;
  let base = row * C4;
  var ss = vec4<f32>(0.0);
  for (var c = 0u; c < C4; c++) {
    ${load}
    ss += v * v;
  }
  let r = inverseSqrt((ss.x + ss.y + ss.z + ss.w) / f32(u.C) + u.eps);
  rstd[row] = r;
  for (var c = 0u; c < C4; c++) {
    out[base + c] = (x[base + c] * r) * weight[c];
  }
}`;
}

const forwardLaneKernel: Kernel = {
  name: "rmsnorm_forward_lane4",
  bindings: [v4("out", "read_write"), { name: "rstd", access: "read_write" }, v4("x", "read"), v4("weight", "read")],
  uniforms: forwardKernel.uniforms,
  workgroupSize: [LANE_WG, 1, 1],
  body: wgslRmsnormLaneMain(),
};

const backwardDxLaneKernel: Kernel = {
  name: "rmsnorm_backward_dx_lane4",
  bindings: [v4("dx", "read_write"), v4("dout", "read"), v4("x", "read"), v4("weight", "read"), { name: "rstd", access: "read" }],
  uniforms: backwardDxKernel.uniforms,
  workgroupSize: [LANE_WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let row = ${FLAT_INDEX(LANE_WG)};
  if (row >= u.N) { return; }
  let C4 = u.C / 4u;
  let base = row * C4;
  let r = rstd[row];
  var d = vec4<f32>(0.0);
  for (var c = 0u; c < C4; c++) {
    d += (dout[base + c] * weight[c]) * (x[base + c] * r);
  }
  let m = (d.x + d.y + d.z + d.w) / f32(u.C);
  for (var c = 0u; c < C4; c++) {
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

export type RmsnormSchedule = "tree" | "lane";

export interface RmsnormSizes {
  N: number;
  C: number;
  /** Row-pass schedule; default `rmsnormSchedule(gpu, C)`. */
  schedule?: RmsnormSchedule;
}

/** One row per lane on CPU adapters when rows are whole vec4s, else the workgroup tree. */
export function rmsnormSchedule(gpu: Gpu, C: number): RmsnormSchedule {
  return gpu.info.isSoftware && C % 4 === 0 ? "lane" : "tree";
}

function useLane(gpu: Gpu, C: number, schedule: RmsnormSchedule | undefined): boolean {
  const s = schedule ?? rmsnormSchedule(gpu, C);
  if (s === "lane" && C % 4 !== 0) throw new Error(`rmsnorm: the 'lane' schedule needs C a multiple of 4, got ${C}`);
  return s === "lane";
}

export function rmsnormForward(
  gpu: Gpu,
  out: Tensor, // (N, C)
  rstd: Tensor, // (N)
  x: Tensor, // (N, C)
  weight: Tensor, // (C)
  { N, C, eps, schedule }: RmsnormSizes & { eps: number },
): void {
  if (useLane(gpu, C, schedule)) gpu.dispatch(forwardLaneKernel, [out, rstd, x, weight], { N, C, eps }, grid1d(N, LANE_WG));
  else gpu.dispatch(forwardKernel, [out, rstd, x, weight], { N, C, eps }, rowGrid(N));
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
  { N, C, accumulate = false, schedule }: RmsnormSizes & { accumulate?: boolean },
): void {
  if (useLane(gpu, C, schedule)) gpu.dispatch(backwardDxLaneKernel, [dx, dout, x, weight, rstd], { N, C }, grid1d(N, LANE_WG));
  else gpu.dispatch(backwardDxKernel, [dx, dout, x, weight, rstd], { N, C }, rowGrid(N));
  const { P, R } = columnBlocks(N);
  const part = gpu.empty([P, C], "rmsnorm dweight partials");
  gpu.dispatch(dweightPartialKernel, [part, dout, x, rstd], { N, C, R }, [Math.ceil(C / COL_WG), P]);
  columnSum(gpu, dweight, part, P, C, accumulate);
  gpu.release(part);
}
