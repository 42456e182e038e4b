// Pieces every generated stage kernel shares: the binding table (fixed names and order,
// each kernel binds the ones its WGSL mentions), the uniform list, and the deterministic
// slot reduction (see schedule.ts: element k folds into slot k mod SLOTS, slots combine by
// a fixed tree, lanes only choose who does which slot).
import type { Binding, Kernel, Uniform } from "../../runtime/engine/kernel.js";
import { SLOTS } from "./schedule.js";
import { WGSL_GROUP_OF, WGSL_LIB, WGSL_POSITION } from "./wgsl-lib.js";

/** Every buffer a stage kernel may bind, in binding order, with its shape. */
export const BUFFERS: readonly Binding[] = [
  { name: "logits", access: "read" }, //            (N, V) current policy
  { name: "ids", access: "read", type: "u32" }, //   (N) sampled token ids
  { name: "tstep", access: "read", type: "i32" }, // (N) step of each token, -1 outside the response
  { name: "old_logp", access: "read" }, //          (N) rollout policy
  { name: "ref_logp", access: "read" }, //          (N) reference policy
  { name: "rollout_logp", access: "read" }, //      (N) the sampler's recorded log-probs
  { name: "seqin", access: "read" }, //             (B, 5) r, correct, length, group, format
  { name: "stpin", access: "read" }, //             (B*S, K_STP) STEP_COLUMNS: C, length, entropy, reward
  { name: "pol", access: "read" }, //               (N, 2) current logp, H (prepass output, or given)
  { name: "stats", access: "read" }, //             (stats size) reductions and per-level values
  { name: "tok", access: "read" }, //               (N, K_TOK) per-token outputs
  { name: "dlogits", access: "read" }, //           (N, V) gradient of the loss
  { name: "summary", access: "read" }, //           (SUMMARY_FIELDS) batch diagnostics
];

export function commonUniforms(params: string[]): Uniform[] {
  const u: Uniform[] = ["N", "T", "V", "B", "S", "NG", "seed", "zero"].map((name) => ({ name, type: "u32" as const }));
  u.push({ name: "steps", type: "f32" }, { name: "total_steps", type: "f32" }, { name: "inv_temp", type: "f32" });
  for (const p of params) u.push({ name: `p_${p}`, type: "f32" });
  return u;
}

/**
 * A kernel whose bindings are the BUFFERS its body uses; `writes` are read_write. Dawn's
 * automatic layout drops bindings the entry point never touches, so a declared but unused
 * buffer would not match the bind group: usage is read from the body without comments and
 * without the library (whose helpers read seqin and tstep only when called).
 */
export function makeKernel(name: string, body: string, writes: string[], params: string[], wg: number): Kernel {
  const code = body.replace(/\/\/[^\n]*/g, "");
  const usesPosition = /\bposition_of\(/.test(code);
  const used = (b: string) =>
    new RegExp(`\\b${b}\\b`).test(code) || (b === "seqin" && usesGroup) || (b === "tstep" && usesPosition);
  const usesGroup = /\bgroup_of\(/.test(code);
  const full = `${WGSL_LIB}${usesGroup ? WGSL_GROUP_OF : ""}${usesPosition ? WGSL_POSITION : ""}\n${body}`;
  const bindings = BUFFERS.filter((b) => used(b.name)).map((b) => ({
    ...b,
    access: writes.includes(b.name) ? ("read_write" as const) : b.access,
  }));
  return { name, bindings, uniforms: commonUniforms(params), workgroupSize: [wg, 1, 1], body: `${BODY_MARKER}\n${full}` };
}

/** First line of every generated body: plan files are split here into prelude and body. */
export const BODY_MARKER = "// ---- acpo stage kernel body ----";

/** Workgroup memory and the fixed tree over SLOTS partial states. */
export function slotTree(lanes: number): string {
  return /* wgsl */ `
var<workgroup> part: array<vec4<f32>, ${SLOTS}>;

fn comb(a: vec4<f32>, b: vec4<f32>, mode: u32) -> vec4<f32> {
  switch mode {
    case 1u: { return vec4<f32>(min(a.x, b.x), max(a.y, b.y), a.z + b.z, 0.0); } // min, nan flag, count
    case 2u: { return vec4<f32>(max(a.x, b.x), max(a.y, b.y), a.z + b.z, 0.0); } // max, nan flag, count
    case 3u: { return vec4<f32>(min(a.x, b.x), max(a.y, b.y), min(a.z, b.z), max(a.w, b.w)); }
    default: { return a + b; }
  }
}
// Combine part[0..SLOTS) in a fixed tree; every lane gets the result. Uniform control flow only.
fn tree(lid: u32, mode: u32) -> vec4<f32> {
  workgroupBarrier();
  for (var s = ${SLOTS / 2}u; s > 0u; s = s >> 1u) {
    for (var k = lid; k < s; k += ${lanes}u) { part[k] = comb(part[k], part[k + s], mode); }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}`;
}
