// Subgroup schedule of the attention kernels (attention.ts) for CPU rasterisers, same
// arithmetic per query row, same decomposition (one lane per query row, TILE rows per
// workgroup; the dk/dv kernel: TILE key rows per workgroup, KV_KEYS of them per lane).
//
// Why: on lavapipe every load in the key loop is a per-lane gather, even where all lanes
// read the same key/value row (attention-tile.ts). Here the loop walks keys in chunks of 8:
// lane l of each 8-lane group loads the row of key (chunk + l), so one gather brings 8
// different rows, and subgroupBroadcast(row, jj) - a register extract and splat for a
// constant lane - hands key chunk + jj to every lane. The body of the chunk is unrolled
// 8 times because the broadcast lane must be a constant. Lanes past the last row compute
// a clamped copy and store nothing (no early return: the broadcasts need every lane of the
// subgroup, in uniform control flow). Needs subgroups of at least 8 lanes.
import type { Kernel } from "../kernel.js";
import { compactRowPrelude } from "./attention-compact.js";
import { LOWEST, QSTART_BINDING, type QueryOffset, TILE, clampedRowPrelude, liveOrReturn, zeroRow } from "./attention-tile.js";

/** Keys (or query rows) per chunk: one per lane of an 8-lane subgroup. */
const CHUNK = 8;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const PARAMS = "@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgid: u32";

const UNIFORMS: Kernel["uniforms"] = [
  { name: "T", type: "u32" },
  { name: "Hq", type: "u32" },
  { name: "Hkv", type: "u32" },
  { name: "scale", type: "f32" },
];

/**
 * Query-row prelude: like attention.ts's, with the lane's row clamped instead of returning; the
 * offset variant packs the computed queries into the first tiles (attention-compact.ts).
 */
const rowPrelude = (offset?: QueryOffset): string => {
  const rowLine = `let pRow = ((b * u.Hq + h) * u.T + t) * u.T; // att row (b, h, t)
  let sg = sgid & 7u;`;
  return offset ? compactRowPrelude(rowLine, offset) : clampedRowPrelude(rowLine);
};

/** The forward's skipped row: out 0 and its att row 0 (the backward never reads it; the lane schedule's). */
export const FORWARD_SKIP: QueryOffset = { zero: `${zeroRow("out", "rowQ")}
    for (var j = 0u; j < u.T; j++) { att[pRow + j] = 0.0; }` };

/**
 * The subgroup forward's skipped row: out 0 only. Its att row is left as it was: no reader
 * touches it (the backward's query pass returns there, its key pass starts at qStart), and
 * writing T zeros per skipped lane was a scatter loop of T stores on lavapipe.
 */
const FORWARD_SKIP_SG: QueryOffset = { zero: zeroRow("out", "rowQ") };

/** The backward's skipped row: dq 0 (its datt row is left as it was: the key-side pass starts at the offset). */
export const DQ_SKIP: QueryOffset = { zero: zeroRow("dq", "rowQ") };

/** The kernel's bindings, with qStart last in the offset variant. */
const withOffset = (bindings: Kernel["bindings"], offset: boolean): Kernel["bindings"] => (offset ? [...bindings, QSTART_BINDING] : bindings);

/** Name suffix of the offset variant. */
const suffix = (offset: boolean): string => (offset ? "_qoffset" : "");

/** WGSL: a loop over chunks of 8 keys up to `last`; `load` fills this lane's rows for key jb + sg, `body(jj)` handles key jb + jj. */
function chunkLoop(last: string, load: string, body: (jj: number) => string): string {
  return /* wgsl */ `
  for (var jb = 0u; jb <= ${last}; jb += ${CHUNK}u) {
    let jl = kv0 + min(jb + sg, u.T - 1u) * kvStride;
    ${load}
    ${range(CHUNK).map((jj) => `{\n      let j = jb + ${jj}u;${body(jj)}\n    }`).join("\n    ")}
  }`;
}

const loadRow = (name: string, buf: string, at: string): string =>
  `var ${name}: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) { ${name}[d] = ${buf}[${at} + d]; }`;

/** WGSL: s = dot of private row `a` with the broadcast row `rows` of lane jj. */
const dotBroadcast = (a: string, rows: string, jj: number): string =>
  `var s = 0.0;
      for (var d = 0u; d < D4; d++) { s += dot(${a}[d], subgroupBroadcast(${rows}[d], ${jj}u)); }`;

/**
 * keep: att ends holding P at j <= t of every computed row (what the backward reads); entries
 * above the diagonal and rows below qStart are left as they were. Without keep (a forward
 * whose backward never runs) att is scratch holding the scaled scores, and the kernel skips
 * the pass that writes P: out has the same bits either way.
 */
export function forwardSgKernel(D: number, offset = false, keep = true): Kernel {
  const o = offset ? FORWARD_SKIP_SG : undefined;
  return {
    name: `attention_forward_sg_d${D}${suffix(offset)}${keep ? "" : "_nokeep"}`,
    bindings: withOffset([
      { name: "out", access: "read_write", type: "vec4<f32>" },
      { name: "att", access: "read_write" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    enables: ["subgroups"],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${PARAMS}) {
  ${rowPrelude(o)}
  var qr: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { qr[d] = q[rowQ + d]; }
  // Pass 1: scores into att, running max. Future keys (j > t) are computed but not kept.
  var m = ${LOWEST};
  ${chunkLoop("iMax", loadRow("kr", "k", "jl"), (jj) => `
      ${dotBroadcast("qr", "kr", jj)}
      if (live && j <= t) {
        let sc = s * u.scale;
        att[pRow + j] = sc;
        m = max(m, sc);
      }`)}
  // Pass 2: unnormalised probabilities, their sum, and the weighted sum of values. The
  // probabilities are not stored: the P pass below computes exp(score - m) again, the same
  // f32 operation on the same operands (one store per key less, an exp is cheap here).
  var o: array<vec4<f32>, D4>;
  var l = 0.0;
  ${chunkLoop("iMax", loadRow("vr", "v", "jl"), (jj) => `
      let valid = live && j <= t;
      var p = 0.0;
      if (valid) {
        p = exp(att[pRow + j] - m);
        l += p;
      }
      for (var d = 0u; d < D4; d++) {
        o[d] = select(o[d], o[d] + p * subgroupBroadcast(vr[d], ${jj}u), valid);
      }`)}
  ${liveOrReturn(o)}
  let inv = 1.0 / l;${keep ? `
  for (var j = 0u; j <= t; j++) { att[pRow + j] = exp(att[pRow + j] - m) * inv; }` : ""}
  for (var d = 0u; d < D4; d++) { out[rowQ + d] = o[d] * inv; }
}`,
  };
}

export function backwardQuerySgKernel(D: number, offset = false): Kernel {
  const o = offset ? DQ_SKIP : undefined;
  return {
    name: `attention_backward_q_sg_d${D}${suffix(offset)}`,
    bindings: withOffset([
      { name: "dq", access: "read_write", type: "vec4<f32>" },
      { name: "datt", access: "read_write" },
      { name: "dout", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
      { name: "att", access: "read" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    enables: ["subgroups"],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${PARAMS}) {
  ${rowPrelude(o)}
  var g: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { g[d] = dout[rowQ + d]; }
  // Pass 1: dp_j = dout_t . v_j into datt; delta = sum_j p_j dp_j (= dout_t . out_t).
  var delta = 0.0;
  ${chunkLoop("iMax", loadRow("vr", "v", "jl"), (jj) => `
      ${dotBroadcast("g", "vr", jj)}
      if (live && j <= t) {
        datt[pRow + j] = s;
        delta += att[pRow + j] * s;
      }`)}
  // Pass 2: ds_j = scale * p_j * (dp_j - delta), the gradient of the unscaled score q.k.
  var acc: array<vec4<f32>, D4>;
  ${chunkLoop("iMax", loadRow("kr", "k", "jl"), (jj) => `
      let valid = live && j <= t;
      var ds = 0.0;
      if (valid) {
        ds = u.scale * att[pRow + j] * (datt[pRow + j] - delta);
        datt[pRow + j] = ds;
      }
      for (var d = 0u; d < D4; d++) {
        acc[d] = select(acc[d], acc[d] + ds * subgroupBroadcast(kr[d], ${jj}u), valid);
      }`)}
  ${liveOrReturn(o)}
  for (var d = 0u; d < D4; d++) { dq[rowQ + d] = acc[d]; }
}`,
  };
}

/** Keys per lane in the dk/dv kernel: the TILE keys of a workgroup are spread over TILE / KV_KEYS lanes. */
export const KV_KEYS = 4;

/**
 * The dk/dv kernel. Lanes are keys of one (b, kv head), KV_KEYS keys per lane (lane i: keys
 * jT + i + L * kk, L = TILE / KV_KEYS lanes); query rows t run in chunks of 8, lane l loading
 * row t + l (offset variant: from the row's first computed query, the only ones whose
 * gradient counts).
 *
 * Why several keys per lane: on lavapipe the row loads (a gather per vec4) and the broadcasts
 * cost more than the arithmetic; each loaded and broadcast row now serves KV_KEYS keys. Each
 * key's sums still run over g, then t ascending, with the same operations: same bits.
 */
export function backwardKvSgKernel(D: number, offset = false): Kernel {
  const keys = KV_KEYS, L = TILE / KV_KEYS; // L = 8 lanes: one subgroup per workgroup
  const ks = range(keys);
  return {
    name: `attention_backward_kv_sg_d${D}${suffix(offset)}`,
    bindings: withOffset([
      { name: "dk", access: "read_write", type: "vec4<f32>" },
      { name: "dv", access: "read_write", type: "vec4<f32>" },
      { name: "dout", access: "read", type: "vec4<f32>" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "att", access: "read" },
      { name: "datt", access: "read" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [L, 1, 1],
    enables: ["subgroups"],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${PARAMS}) {
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  let jT = wid.x * ${TILE}u;
  let sg = sgid & 7u;
  ${ks.map((kk) => `let j${kk} = jT + lid + ${L * kk}u; // key kk of this lane (>= T: computes nothing, stores nothing)`).join("\n  ")}
  var dkAcc: array<vec4<f32>, ${keys}u * D4>; // [kk * D4 + d]
  var dvAcc: array<vec4<f32>, ${keys}u * D4>;
  for (var g = 0u; g < G; g++) {
    let h = kvh * G + g;
    let pBase = (b * u.Hq + h) * u.T * u.T;
    for (var tb = ${offset ? "max(jT, qStart[b])" : "jT"}; tb < u.T; tb += ${CHUNK}u) {
      let rowL = ((b * u.T + min(tb + sg, u.T - 1u)) * u.Hq + h) * D4;
      ${loadRow("gr", "dout", "rowL")}
      ${loadRow("qr", "q", "rowL")}
      ${range(CHUNK).map((tt) => `{
        let t = tb + ${tt}u;
        let pRow = pBase + t * u.T;
        ${ks.map((kk) => `let valid${kk} = j${kk} <= t && t < u.T;
        var p${kk} = 0.0;
        var ds${kk} = 0.0;
        if (valid${kk}) {
          p${kk} = att[pRow + j${kk}];
          ds${kk} = datt[pRow + j${kk}];
        }`).join("\n        ")}
        for (var d = 0u; d < D4; d++) {
          let gt = subgroupBroadcast(gr[d], ${tt}u);
          let qt = subgroupBroadcast(qr[d], ${tt}u);
          ${ks.map((kk) => `dvAcc[${kk}u * D4 + d] = select(dvAcc[${kk}u * D4 + d], dvAcc[${kk}u * D4 + d] + p${kk} * gt, valid${kk});
          dkAcc[${kk}u * D4 + d] = select(dkAcc[${kk}u * D4 + d], dkAcc[${kk}u * D4 + d] + ds${kk} * qt, valid${kk});`).join("\n          ")}
        }
      }`).join("\n      ")}
    }
  }
  ${ks.map((kk) => `if (j${kk} < u.T) {
    let rowK = ((b * u.T + j${kk}) * u.Hkv + kvh) * D4;
    for (var d = 0u; d < D4; d++) {
      dk[rowK + d] = dkAcc[${kk}u * D4 + d];
      dv[rowK + d] = dvAcc[${kk}u * D4 + d];
    }
  }`).join("\n  ")}
}`,
  };
}
