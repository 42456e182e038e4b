// What the two schedules of the row-stats kernel share (rowstats.ts: one 128-lane workgroup
// per row, merged in workgroup memory; rowstats-sg.ts: one 8-lane subgroup per row): the
// online softmax state, its merge, and the kernel's interface (bindings and final writes).
import type { Kernel } from "../kernel.js";
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

/** Name, bindings and the WGSL that writes the outputs of row `row` from its merged state `r`. */
export function statsInterface(o: StatsOutputs): { name: string; bindings: Kernel["bindings"]; writes: string } {
  const bindings: Kernel["bindings"] = [];
  if (o.logp) bindings.push({ name: "logp", access: "read_write" });
  if (o.lse) bindings.push({ name: "lse", access: "read_write" });
  if (o.entropy) bindings.push({ name: "ent", access: "read_write" });
  bindings.push({ name: "logits", access: "read" });
  if (o.logp) bindings.push({ name: "ids", access: "read", type: "u32" });
  // s == 0: no finite logit in the row (all -inf, or V == 0).
  const writes = ["let bad = r.w > 0.0 || r.y == 0.0;", "let logs = log(r.y);"];
  if (o.lse) writes.push("lse[row] = nan_if(bad, r.x + logs);");
  if (o.entropy) writes.push("ent[row] = nan_if(bad, logs - r.z / r.y);");
  if (o.logp) {
    writes.push(
      "let id = ids[row];",
      "let xi = logits[base + min(id, u.V - 1u)];",
      "logp[row] = nan_if(bad || id >= u.V, (xi - r.x) - logs);",
    );
  }
  const name = `row_stats_${o.logp ? "logp_" : ""}${o.lse ? "lse_" : ""}${o.entropy ? "entropy" : ""}`.replace(/_$/, "");
  return { name, bindings, writes: writes.join("\n    ") };
}

/** Which gradient terms a dlogits kernel sums. */
export interface GradTerms {
  logp: boolean; // dlogp[n] * (onehot(ids[n]) - p)
  entropy: boolean; // dH[n] * (-p (log p + H))
  accumulate: boolean; // dlogits += instead of =
}

/** WGSL expressions of row `row`'s per-row inputs: loads, or names they were loaded into. */
export interface RowInputs { dlogp: string; id: string; dH: string; H: string }

/**
 * Name, bindings and the WGSL that sets dlogits[i] for column v, given lp = log p_v and p
 * (in scope), from the per-row inputs `r`.
 */
export function gradInterface(o: GradTerms, r: RowInputs): { name: string; bindings: Kernel["bindings"]; store: string } {
  const bindings: Kernel["bindings"] = [{ name: "dlogits", access: "read_write" }];
  if (o.logp) bindings.push({ name: "dlogp", access: "read" });
  if (o.entropy) bindings.push({ name: "dH", access: "read" });
  bindings.push({ name: "logits", access: "read" });
  if (o.logp) bindings.push({ name: "ids", access: "read", type: "u32" });
  bindings.push({ name: "lse", access: "read" });
  if (o.entropy) bindings.push({ name: "ent", access: "read" });
  const lines = ["var g = 0.0;"];
  if (o.logp) lines.push(`g += ${r.dlogp} * (select(0.0, 1.0, v == ${r.id}) - p);`);
  // p == 0 (masked or underflowed) contributes 0 — not 0 * -inf.
  if (o.entropy) lines.push(`g += select(0.0, ${r.dH} * (-p * (lp + ${r.H})), p > 0.0);`);
  lines.push(`dlogits[i] = ${o.accumulate ? "dlogits[i] + g" : "g"};`);
  const name = `row_grad_${o.logp ? "logp_" : ""}${o.entropy ? "entropy_" : ""}${o.accumulate ? "acc" : "set"}`;
  return { name, bindings, store: lines.join("\n  ") };
}
