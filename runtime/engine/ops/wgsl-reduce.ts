// Deterministic reductions shared by the normalisation kernels.
//
// Row reductions (over C, within one row): one workgroup per row, each lane sums a strided
// slice of the row, then a tree reduction in workgroup memory. Works for any C, larger or
// smaller than the workgroup. The summation order depends only on C and the workgroup size,
// so results are identical run to run.
//
// Column reductions (over N, e.g. a weight gradient summed over all rows): no float atomics.
// Pass 1 (in the op's own kernel) writes partial sums over blocks of rows, (P, C); pass 2
// (`columnSum`) adds the P partials of each column in order. P depends only on N.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";

/** Lanes per workgroup for row reductions (a power of two). */
export const ROW_WG = 128;

/**
 * WGSL: `wg_sum2(lid, v)` returns the sum over the workgroup of each lane's vec2 `v`, the same
 * value in every lane. Call it from uniform control flow (it has barriers). Two sums at once
 * because LayerNorm needs two per row; callers with one sum pass vec2(v, 0).
 */
export const WGSL_WG_SUM2 = /* wgsl */ `
var<workgroup> wg_red: array<vec2<f32>, ${ROW_WG}>;

fn wg_sum2(lid: u32, v: vec2<f32>) -> vec2<f32> {
  wg_red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { wg_red[lid] = wg_red[lid] + wg_red[lid + s]; }
    workgroupBarrier();
  }
  let total = wg_red[0];
  workgroupBarrier(); // everyone has read the total before wg_red is reused
  return total;
}`;

/** Row index of a workgroup in a grid from `rowGrid` (needs `wid` and `nwg` builtins). */
export const WGSL_ROW_INDEX = "(wid.x + wid.y * nwg.x)";

/** Workgroup counts for one workgroup per row, folded into 2-D past 65535 rows. */
export function rowGrid(rows: number): [number, number] {
  if (rows <= 65535) return [rows, 1];
  const y = Math.ceil(rows / 65535);
  return [Math.ceil(rows / y), y];
}

/** Lanes per workgroup for column kernels: one lane per column. */
export const COL_WG = 64;

/**
 * How pass 1 splits N rows into P blocks of R consecutive rows: at least 16 rows per block
 * (so each lane's serial loop is worth its launch), at most 128 blocks (so pass 2 is short).
 */
export function columnBlocks(N: number): { P: number; R: number } {
  const P = Math.max(1, Math.min(128, Math.ceil(N / 16)));
  return { P, R: Math.ceil(N / P) };
}

const columnSumKernel = (accumulate: boolean): Kernel => ({
  name: accumulate ? "column_sum_accumulate" : "column_sum",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "part", access: "read" },
  ],
  uniforms: [
    { name: "P", type: "u32" },
    { name: "C", type: "u32" },
  ],
  workgroupSize: [COL_WG, 1, 1],
  body: /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= u.C) { return; }
  var s = 0.0;
  for (var p = 0u; p < u.P; p++) { s += part[p * u.C + c]; }
  ${accumulate ? "out[c] = out[c] + s;" : "out[c] = s;"}
}`,
});

const kernels = { add: columnSumKernel(true), set: columnSumKernel(false) };

/** out[c] (+)= sum_p part[p, c], summed in order of p. */
export function columnSum(
  gpu: Gpu,
  out: Tensor, // (C)
  part: Tensor, // (P, C)
  P: number,
  C: number,
  accumulate = false,
): void {
  gpu.dispatch(accumulate ? kernels.add : kernels.set, [out, part], { P, C }, [Math.ceil(C / COL_WG)]);
}
