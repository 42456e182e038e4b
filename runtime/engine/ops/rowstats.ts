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
import type { Kernel } from "../kernel.js";
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { MAX_DIM, grid1d } from "./grid.js";
import { ROW_WG } from "./wgsl-reduce.js";

/** Lanes per row in the row kernels: the same workgroup size as the normalisation row reductions. */
export { ROW_WG };

/** WGSL helpers: NaN/+inf detection by bits (WGSL may assume no NaN in float compares). */
export const ROW_HELPERS = /* wgsl */ `
// NaN or +inf: a logit no softmax can use. Tested on the bits so no compiler can fold it away.
fn poisons(x: f32) -> bool {
  let b = bitcast<u32>(x);
  return (b & 0x7fffffffu) > 0x7f800000u || b == 0x7f800000u;
}
// x, or a quiet NaN when bad. The NaN is built at run time (a constant NaN is a WGSL error).
fn nan_if(bad: bool, x: f32) -> f32 {
  return select(x, bitcast<f32>(0x7fc00000u | u32(bad)), bad);
}
// Most negative finite f32: the max of an empty state. Finite, so m - m' never makes NaN.
const LOWEST: f32 = -0x1.fffffep+127f;
`;

/** WGSL: fold one value into the online state, and merge two states. `st` is (m, s, t, bad). */
export const ROW_ONLINE = /* wgsl */ `
fn push(st: vec4<f32>, x: f32) -> vec4<f32> {
  if (poisons(x)) { return vec4<f32>(st.xyz, 1.0); }
  if (x > st.x) {
    // New max: rescale s and t to it. exp(m - x) underflows to 0 when the old state is far below.
    let a = exp(st.x - x);
    let t = select(0.0, a * (st.z + (st.x - x) * st.y), a > 0.0);
    return vec4<f32>(x, st.y * a + 1.0, t, st.w);
  }
  let d = x - st.x;
  let e = exp(d);
  // exp(d) == 0 for -inf (masked) and for tiny p: contributes 0, never 0 * -inf.
  return vec4<f32>(st.x, st.y + e, st.z + select(0.0, e * d, e > 0.0), st.w);
}
// Part of state (mi, si, ti) rescaled to the max m >= mi.
fn rescaled(mi: f32, si: f32, ti: f32, m: f32) -> vec2<f32> {
  if (mi == m) { return vec2<f32>(si, ti); }
  let a = exp(mi - m);
  if (a == 0.0) { return vec2<f32>(0.0, 0.0); }
  return vec2<f32>(a * si, a * (ti + (mi - m) * si));
}
fn merge(p: vec4<f32>, q: vec4<f32>) -> vec4<f32> {
  let m = max(p.x, q.x);
  let st = rescaled(p.x, p.y, p.z, m) + rescaled(q.x, q.y, q.z, m);
  return vec4<f32>(m, st.x, st.y, max(p.w, q.w));
}
`;

/** Which outputs a row-stats kernel writes. At least one must be on. */
export interface StatsOutputs {
  logp: boolean; // (N) log p of ids[n]
  lse: boolean; // (N) logsumexp of the row
  entropy: boolean; // (N) -sum p log p
}

const statsCache = new Map<string, Kernel>();

function statsKernel(o: StatsOutputs): Kernel {
  const key = `${+o.logp}${+o.lse}${+o.entropy}`;
  const hit = statsCache.get(key);
  if (hit) return hit;
  const bindings: Kernel["bindings"] = [];
  if (o.logp) bindings.push({ name: "logp", access: "read_write" });
  if (o.lse) bindings.push({ name: "lse", access: "read_write" });
  if (o.entropy) bindings.push({ name: "ent", access: "read_write" });
  bindings.push({ name: "logits", access: "read" });
  if (o.logp) bindings.push({ name: "ids", access: "read", type: "u32" });
  const writes: string[] = [];
  if (o.lse) writes.push("lse[row] = nan_if(bad, r.x + logs);");
  if (o.entropy) writes.push("ent[row] = nan_if(bad, logs - r.z / r.y);");
  if (o.logp) {
    writes.push(
      "let id = ids[row];",
      "let xi = logits[base + min(id, u.V - 1u)];",
      "logp[row] = nan_if(bad || id >= u.V, (xi - r.x) - logs);",
    );
  }
  const k: Kernel = {
    name: `row_stats_${o.logp ? "logp_" : ""}${o.lse ? "lse_" : ""}${o.entropy ? "entropy" : ""}`.replace(/_$/, ""),
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
    // s == 0: no finite logit in the row (all -inf, or V == 0).
    let bad = r.w > 0.0 || r.y == 0.0;
    let logs = log(r.y);
    ${writes.join("\n    ")}
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
): void {
  if ((logp === null) !== (ids === null)) throw new Error("rowStats: logp and ids go together");
  if (!logp && !lse && !ent) throw new Error("rowStats: no output requested");
  checkRows(N, V);
  const k = statsKernel({ logp: !!logp, lse: !!lse, entropy: !!ent });
  const bufs = [logp, lse, ent, logits, ids].filter((t): t is Tensor => t !== null);
  gpu.dispatch(k, bufs, { N, V }, grid1d(N, 1));
}

export function checkRows(N: number, V: number): void {
  if (!Number.isInteger(N) || !Number.isInteger(V) || N < 0 || V < 1) throw new Error(`row op: bad sizes N=${N} V=${V}`);
  // Flat indices are u32; no binding this large exists anyway.
  if (N * V >= 2 ** 32) throw new Error(`row op: N*V = ${N * V} exceeds u32 indexing`);
}

// ---- backward ----------------------------------------------------------------------------

/** Which gradient terms a dlogits kernel sums. */
export interface GradTerms {
  logp: boolean; // dlogp[n] * (onehot(ids[n]) - p)
  entropy: boolean; // dH[n] * (-p (log p + H))
  accumulate: boolean; // dlogits += instead of =
}

const BWD_WG = 256;
const gradCache = new Map<string, Kernel>();

function gradKernel(o: GradTerms): Kernel {
  const key = `${+o.logp}${+o.entropy}${+o.accumulate}`;
  const hit = gradCache.get(key);
  if (hit) return hit;
  const bindings: Kernel["bindings"] = [{ name: "dlogits", access: "read_write" }];
  if (o.logp) bindings.push({ name: "dlogp", access: "read" });
  if (o.entropy) bindings.push({ name: "dH", access: "read" });
  bindings.push({ name: "logits", access: "read" });
  if (o.logp) bindings.push({ name: "ids", access: "read", type: "u32" });
  bindings.push({ name: "lse", access: "read" });
  if (o.entropy) bindings.push({ name: "ent", access: "read" });
  const terms: string[] = [];
  if (o.logp) terms.push("g += dlogp[row] * (select(0.0, 1.0, v == ids[row]) - p);");
  // p == 0 (masked or underflowed) contributes 0 — not 0 * -inf.
  if (o.entropy) terms.push("g += select(0.0, dH[row] * (-p * (lp + ent[row])), p > 0.0);");
  const k: Kernel = {
    name: `row_grad_${o.logp ? "logp_" : ""}${o.entropy ? "entropy_" : ""}${o.accumulate ? "acc" : "set"}`,
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
  var g = 0.0;
  ${terms.join("\n  ")}
  dlogits[i] = ${o.accumulate ? "dlogits[i] + g" : "g"};
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
): void {
  if ((dlogp === null) !== (ids === null)) throw new Error("rowGrad: dlogp and ids go together");
  if ((dH === null) !== (ent === null)) throw new Error("rowGrad: dH and H go together");
  if (!dlogp && !dH) throw new Error("rowGrad: no gradient term");
  checkRows(N, V);
  const k = gradKernel({ logp: !!dlogp, entropy: !!dH, accumulate });
  const bufs = [dlogits, dlogp, dH, logits, ids, lse, ent].filter((t): t is Tensor => t !== null);
  if (N === 0) return;
  gpu.dispatch(k, bufs, { N, V }, rowColGrid(N, V, BWD_WG));
}
