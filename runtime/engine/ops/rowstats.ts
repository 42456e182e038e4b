// Per-row softmax statistics of logits, and the gradient of any mix of them: the shared
// core of logprobs.ts, entropy.ts and logprobs-entropy.ts (the RL loss head).
//
// Forward reads each logits row once. One workgroup per row; every lane folds its strided
// share of the row into an online state (m, s, t, bad):
//   m = running max,  s = sum_v exp(x_v - m),  t = sum_v exp(x_v - m) * (x_v - m)
// (rescaled whenever m grows), then the lanes merge their states with a fixed-order tree in
// workgroup memory, so results are deterministic. From the row's state:
//   lse = m + log s,  log p_id = (x_id - m) - log s,  H = log s - t / s.
// t <= 0 and log s >= 0, so H is a sum of two non-negative terms: no cancellation, H >= 0.
//
// Rows that are not a distribution — a NaN or +inf logit, or no finite logit at all — give
// NaN for every output of the row (torch's log_softmax gives NaN there too). -inf logits are
// masked tokens: p = 0, and they contribute exactly 0 to s, t and every gradient. An id >= V
// gives log p = NaN (a bug in the caller should be visible, not read a neighbour's logit).
//
// On CPU rasterisers with 8-lane subgroups the forward runs as one subgroup per row with the
// same pushes and merge pairings, and the backward as one 8-lane workgroup per row
// (rowstats-sg.ts): both schedules give the same bits.
import type { Kernel } from "../kernel.js";
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { MAX_DIM, grid1d } from "./grid.js";
import { hasSubgroups8 } from "./matmul.js";
import {
  type GradTerms, ROW_HELPERS, ROW_ONLINE, ROW_WG, type StatsOutputs, gradInterface, statsInterface,
} from "./rowstats-common.js";
import { gradRowsKernel, statsSgKernel } from "./rowstats-sg.js";

export { type GradTerms, ROW_HELPERS, ROW_ONLINE, ROW_WG, type StatsOutputs };

/**
 * "workgroup": forward, one 128-lane workgroup per row, the states merged in workgroup memory;
 * backward, one lane per element in 256-lane blocks of a row (GPUs).
 * "subgroup": forward, one 8-lane subgroup per row, the same pushes and merges in the same
 * order; backward, one 8-lane workgroup per row walking it (rowstats-sg.ts; CPU rasterisers
 * with subgroups of >= 8 lanes). Both give the same bits.
 */
export type RowSchedule = "workgroup" | "subgroup";

/** The schedule for this adapter. */
export function rowSchedule(gpu: Gpu): RowSchedule {
  return gpu.info.isSoftware && hasSubgroups8(gpu) ? "subgroup" : "workgroup";
}

const statsCache = new Map<string, Kernel>();

function statsKernel(o: StatsOutputs): Kernel {
  const key = `${+o.logp}${+o.lse}${+o.entropy}`;
  const hit = statsCache.get(key);
  if (hit) return hit;
  const { name, bindings, writes } = statsInterface(o);
  const k: Kernel = {
    name,
    bindings,
    uniforms: [{ name: "N", type: "u32" }, { name: "V", type: "u32" }],
    workgroupSize: [ROW_WG, 1, 1],
    body: /* wgsl */ `
${ROW_HELPERS}
${ROW_ONLINE}
var<workgroup> red: array<vec4<f32>, ${ROW_WG}>;

fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; } // whole workgroup leaves together: barriers stay uniform
  let base = row * u.V;
  var st = vec4<f32>(LOWEST, 0.0, 0.0, 0.0);
  for (var v = lid; v < u.V; v += ${ROW_WG}u) { st = push(st, logits[base + v]); }
  red[lid] = st;
  for (var stride = ${ROW_WG / 2}u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = merge(red[lid], red[lid + stride]); }
  }
  if (lid == 0u) {
    let r = red[0];
    ${writes}
  }
}`,
  };
  statsCache.set(key, k);
  return k;
}

/** Record the row-stats kernel. Pass null for an output you do not want. */
export function rowStats(
  gpu: Gpu,
  logp: Tensor | null, // (N)
  lse: Tensor | null, // (N)
  ent: Tensor | null, // (N)
  logits: Tensor, // (N, V)
  ids: Tensor | null, // (N) u32, needed with logp
  N: number,
  V: number,
  schedule: RowSchedule = rowSchedule(gpu), // tests and benchmarks force one
): void {
  if ((logp === null) !== (ids === null)) throw new Error("rowStats: logp and ids go together");
  if (!logp && !lse && !ent) throw new Error("rowStats: no output requested");
  checkRows(N, V);
  if (schedule === "subgroup" && !hasSubgroups8(gpu)) throw new Error("rowStats: the subgroup schedule needs subgroups of >= 8 lanes");
  const o = { logp: !!logp, lse: !!lse, entropy: !!ent };
  const k = schedule === "subgroup" ? statsSgKernel(o) : statsKernel(o);
  const bufs = [logp, lse, ent, logits, ids].filter((t): t is Tensor => t !== null);
  gpu.dispatch(k, bufs, { N, V }, grid1d(N, 1));
}

export function checkRows(N: number, V: number): void {
  if (!Number.isInteger(N) || !Number.isInteger(V) || N < 0 || V < 1) throw new Error(`row op: bad sizes N=${N} V=${V}`);
  // Flat indices are u32; no binding this large exists anyway.
  if (N * V >= 2 ** 32) throw new Error(`row op: N*V = ${N * V} exceeds u32 indexing`);
}

// ---- backward ----------------------------------------------------------------------------

const BWD_WG = 256;
const gradCache = new Map<string, Kernel>();

function gradKernel(o: GradTerms): Kernel {
  const key = `${+o.logp}${+o.entropy}${+o.accumulate}`;
  const hit = gradCache.get(key);
  if (hit) return hit;
  const { name, bindings, store } = gradInterface(o, { dlogp: "dlogp[row]", id: "ids[row]", dH: "dH[row]", H: "ent[row]" });
  const k: Kernel = {
    name,
    bindings,
    uniforms: [{ name: "N", type: "u32" }, { name: "V", type: "u32" }],
    workgroupSize: [BWD_WG, 1, 1],
    // Grid: x over column blocks of one row, (y, z) over rows, so every per-row value
    // (lse, H, dlogp, dH, id) is a workgroup-uniform load and no lane divides by V.
    body: /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y + wid.z * nwg.y;
  let v = gid.x;
  if (row >= u.N || v >= u.V) { return; }
  let i = row * u.V + v;
  let lp = logits[i] - lse[row]; // log p_v
  let p = exp(lp);
  ${store}
}`,
  };
  gradCache.set(key, k);
  return k;
}

/** Workgroups for a (column block, row) grid over N rows of V columns, rows folded into z. */
export function rowColGrid(N: number, V: number, perGroup: number): [number, number, number] {
  const cx = Math.ceil(V / perGroup);
  if (cx > MAX_DIM) throw new Error(`row op: V=${V} needs ${cx} column blocks (max ${MAX_DIM})`);
  const y = Math.min(N, MAX_DIM);
  return [cx, y, Math.ceil(N / MAX_DIM)];
}

/** Record dlogits (= or +=) the selected gradient terms. Pass null for unused inputs. */
export function rowGrad(
  gpu: Gpu,
  dlogits: Tensor, // (N, V)
  dlogp: Tensor | null, // (N)
  dH: Tensor | null, // (N)
  logits: Tensor, // (N, V)
  ids: Tensor | null, // (N) u32
  lse: Tensor, // (N) from forward
  ent: Tensor | null, // (N) from forward
  N: number,
  V: number,
  accumulate: boolean,
  schedule: RowSchedule = rowSchedule(gpu), // tests and benchmarks force one
): void {
  if ((dlogp === null) !== (ids === null)) throw new Error("rowGrad: dlogp and ids go together");
  if ((dH === null) !== (ent === null)) throw new Error("rowGrad: dH and H go together");
  if (!dlogp && !dH) throw new Error("rowGrad: no gradient term");
  checkRows(N, V);
  const o = { logp: !!dlogp, entropy: !!dH, accumulate };
  const bufs = [dlogits, dlogp, dH, logits, ids, lse, ent].filter((t): t is Tensor => t !== null);
  if (N === 0) return;
  if (schedule === "subgroup") gpu.dispatch(gradRowsKernel(o), bufs, { N, V }, grid1d(N, 1));
  else gpu.dispatch(gradKernel(o), bufs, { N, V }, rowColGrid(N, V, BWD_WG));
}
