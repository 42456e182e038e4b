// WGSL of the recompute attention kernels (attention-recompute.ts), in both schedules.
//
// Same decomposition as attention.ts (attention-tile.ts): one lane per query row (forward,
// dq) or per key row (dk, dv), TILE rows per workgroup, every workgroup in one kv head.
// The loop over the other side (keys, or query rows) runs in chunks:
//   "lane": chunks of 1; every lane reads the chunk's row from memory itself (the address is
//     uniform across lanes: cheap on GPUs);
//   "subgroup": chunks of 8; lane l of each 8-lane group loads row (chunk + l) and
//     subgroupBroadcast hands row chunk + jj to every lane (attention-sg.ts explains why this
//     is 2-3x on lavapipe). The chunk's body is unrolled, as the broadcast lane is a constant.
// In both, lanes past the last row compute a clamped copy and store nothing (no early return:
// broadcasts need the whole subgroup in uniform control flow), and every masked entry is kept
// out with a select, so NaN or inf in a future key, value or query row cannot leak.
import type { Kernel } from "../kernel.js";
import type { AttentionSchedule } from "./attention.js";
import { LOWEST, QSTART_BINDING, type QueryOffset, TILE, clampedRowPrelude, liveOrReturn, zeroRow } from "./attention-tile.js";

interface Chunking {
  /** Rows per chunk. */
  n: number;
  sg: boolean;
}

const chunking = (schedule: AttentionSchedule): Chunking => (schedule === "subgroup" ? { n: 8, sg: true } : { n: 1, sg: false });

const UNIFORMS: Kernel["uniforms"] = [
  { name: "T", type: "u32" },
  { name: "Hq", type: "u32" },
  { name: "Hkv", type: "u32" },
  { name: "scale", type: "f32" },
];

const params = (c: Chunking): string =>
  `@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${c.sg ? ", @builtin(subgroup_invocation_id) sgid: u32" : ""}`;

/** The chunk entry this lane loads: the chunk's first row, or (subgroup) its own lane's row. */
const mine = (c: Chunking, base: string): string => (c.sg ? `${base} + (sgid & 7u)` : base);

/** WGSL: make row `at` of `buf` readable as `name` (subgroup: into private memory; lane: its index). */
const loadRow = (c: Chunking, name: string, buf: string, at: string): string =>
  c.sg
    ? `var ${name}: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) { ${name}[d] = ${buf}[${at} + d]; }`
    : `let ${name} = ${at};`;

/** WGSL: element d of chunk entry jj's row loaded by `loadRow` as `name`. */
const rowAt = (c: Chunking, name: string, buf: string, jj: number): string => (c.sg ? `subgroupBroadcast(${name}[d], ${jj}u)` : `${buf}[${name} + d]`);

/** WGSL: chunk entry jj's value of a per-lane scalar `name`. */
const scalarAt = (c: Chunking, name: string, jj: number): string => (c.sg ? `subgroupBroadcast(${name}, ${jj}u)` : name);

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The chunk's unrolled bodies, each in its own scope. */
const unrolled = (c: Chunking, body: (jj: number) => string): string => range(c.n).map((jj) => `{${body(jj)}\n    }`).join("\n    ");

/** Query-row prelude: the lane's row (clamped when past the last), its q/out row, kv rows and lse entry. */
const rowPrelude = (o?: QueryOffset): string => clampedRowPrelude("let rowL = (b * u.Hq + h) * u.T + t; // lse/delta entry (b, h, t)", o);

/** Skipped rows of the offset variant (attention-tile.ts QueryOffset): the forward's out and lse 0, the backward's dq and delta 0. */
const FORWARD_SKIP: QueryOffset = { zero: `${zeroRow("out", "rowQ")}
    lse[rowL] = 0.0;` };
const DQ_SKIP: QueryOffset = { zero: `${zeroRow("dq", "rowQ")}
    delta[rowL] = 0.0;` };

const withOffset = (bindings: Kernel["bindings"], offset: boolean): Kernel["bindings"] => (offset ? [...bindings, QSTART_BINDING] : bindings);
const suffix = (offset: boolean): string => (offset ? "_qoffset" : "");

/** WGSL: `var name` = dot of private row `a` with a row expression over d. */
const dotWith = (name: string, a: string, row: string): string =>
  `var ${name} = 0.0;
      for (var d = 0u; d < D4; d++) { ${name} += dot(${a}[d], ${row}); }`;

const privateRow = (name: string, buf: string, at: string): string =>
  `var ${name}: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { ${name}[d] = ${buf}[${at} + d]; }`;

/**
 * Forward: out and lse per query row, softmax online over key chunks. Per chunk: its scores,
 * the new running max, one rescale of (l, o) by exp(m_old - m_new), then the chunk's terms.
 */
export function forwardLseKernel(D: number, schedule: AttentionSchedule, offset = false): Kernel {
  const c = chunking(schedule), o = offset ? FORWARD_SKIP : undefined;
  return {
    name: `attention_forward_lse_${schedule}_d${D}${suffix(offset)}`,
    bindings: withOffset([
      { name: "out", access: "read_write", type: "vec4<f32>" },
      { name: "lse", access: "read_write" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    ...(c.sg ? { enables: ["subgroups"] } : {}),
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${params(c)}) {
  ${rowPrelude(o)}
  ${privateRow("qr", "q", "rowQ")}
  var m = ${LOWEST};
  var l = 0.0;
  var o: array<vec4<f32>, D4>;
  for (var jb = 0u; jb <= iMax; jb += ${c.n}u) {
    let jl = kv0 + min(${mine(c, "jb")}, u.T - 1u) * kvStride;
    ${loadRow(c, "kr", "k", "jl")}
    ${loadRow(c, "vr", "v", "jl")}
    var sc: array<f32, ${c.n}>;
    var cm = m;
    ${unrolled(c, (jj) => `
      ${dotWith("s", "qr", rowAt(c, "kr", "k", jj))}
      sc[${jj}] = s * u.scale;
      cm = select(cm, max(cm, sc[${jj}]), live && jb + ${jj}u <= t);`)}
    let rescale = exp(m - cm);
    l *= rescale;
    for (var d = 0u; d < D4; d++) { o[d] *= rescale; }
    m = cm;
    ${unrolled(c, (jj) => `
      let valid = live && jb + ${jj}u <= t;
      let p = select(0.0, exp(sc[${jj}] - m), valid);
      l += p;
      for (var d = 0u; d < D4; d++) { o[d] = select(o[d], o[d] + p * ${rowAt(c, "vr", "v", jj)}, valid); }`)}
  }
  ${liveOrReturn(o)}
  lse[rowL] = m + log(l);
  let inv = 1.0 / l;
  for (var d = 0u; d < D4; d++) { out[rowQ + d] = o[d] * inv; }
}`,
  };
}

/**
 * Backward, per query row: delta = dout . out (written for the key-side kernel), then per key
 * p = exp(s - lse), dp = dout . v, ds = scale * p * (dp - delta), dq = sum ds k.
 */
export function backwardQueryLseKernel(D: number, schedule: AttentionSchedule, offset = false): Kernel {
  const c = chunking(schedule), o = offset ? DQ_SKIP : undefined;
  return {
    name: `attention_backward_q_lse_${schedule}_d${D}${suffix(offset)}`,
    bindings: withOffset([
      { name: "dq", access: "read_write", type: "vec4<f32>" },
      { name: "delta", access: "read_write" },
      { name: "dout", access: "read", type: "vec4<f32>" },
      { name: "out", access: "read", type: "vec4<f32>" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
      { name: "lse", access: "read" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    ...(c.sg ? { enables: ["subgroups"] } : {}),
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${params(c)}) {
  ${rowPrelude(o)}
  ${privateRow("qr", "q", "rowQ")}
  ${privateRow("g", "dout", "rowQ")}
  var dl = 0.0;
  for (var d = 0u; d < D4; d++) { dl += dot(g[d], out[rowQ + d]); }
  let lr = lse[rowL];
  if (live) { delta[rowL] = dl; }
  var acc: array<vec4<f32>, D4>;
  for (var jb = 0u; jb <= iMax; jb += ${c.n}u) {
    let jl = kv0 + min(${mine(c, "jb")}, u.T - 1u) * kvStride;
    ${loadRow(c, "kr", "k", "jl")}
    ${loadRow(c, "vr", "v", "jl")}
    ${unrolled(c, (jj) => `
      ${dotWith("s", "qr", rowAt(c, "kr", "k", jj))}
      ${dotWith("dp", "g", rowAt(c, "vr", "v", jj))}
      let valid = live && jb + ${jj}u <= t;
      let ds = select(0.0, u.scale * exp(s * u.scale - lr) * (dp - dl), valid);
      for (var d = 0u; d < D4; d++) { acc[d] = select(acc[d], acc[d] + ds * ${rowAt(c, "kr", "k", jj)}, valid); }`)}
  }
  ${liveOrReturn(o)}
  for (var d = 0u; d < D4; d++) { dq[rowQ + d] = acc[d]; }
}`,
  };
}

/**
 * Backward, per key row j of one kv head: over the G query heads sharing it and the query
 * rows t >= j (offset variant: t >= max(j, qStart[b])), recompute p and ds from q_t, dout_t, lse_t and delta_t; dv = sum p dout,
 * dk = sum ds q. Query rows run in chunks starting at the tile's first key.
 */
export function backwardKvLseKernel(D: number, schedule: AttentionSchedule, offset = false): Kernel {
  const c = chunking(schedule);
  return {
    name: `attention_backward_kv_lse_${schedule}_d${D}${suffix(offset)}`,
    bindings: withOffset([
      { name: "dk", access: "read_write", type: "vec4<f32>" },
      { name: "dv", access: "read_write", type: "vec4<f32>" },
      { name: "dout", access: "read", type: "vec4<f32>" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
      { name: "lse", access: "read" },
      { name: "delta", access: "read" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    ...(c.sg ? { enables: ["subgroups"] } : {}),
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${params(c)}) {
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  let j0 = wid.x * ${TILE}u;
  let live = j0 + lid < u.T;
  let j = min(j0 + lid, u.T - 1u);
  let rowK = ((b * u.T + j) * u.Hkv + kvh) * D4; // vec4 index of k/v row (b, j, kvh)
  ${privateRow("kj", "k", "rowK")}
  ${privateRow("vj", "v", "rowK")}
  var dkAcc: array<vec4<f32>, D4>;
  var dvAcc: array<vec4<f32>, D4>;
  for (var g = 0u; g < G; g++) {
    let h = kvh * G + g;
    let sBase = (b * u.Hq + h) * u.T; // lse/delta entry (b, h, 0)
    for (var tb = ${offset ? "max(j0, qStart[b])" : "j0"}; tb < u.T; tb += ${c.n}u) {
      let tm = min(${mine(c, "tb")}, u.T - 1u);
      let rowT = ((b * u.T + tm) * u.Hq + h) * D4;
      ${loadRow(c, "qr", "q", "rowT")}
      ${loadRow(c, "gr", "dout", "rowT")}
      let lseT = lse[sBase + tm];
      let deltaT = delta[sBase + tm];
      ${unrolled(c, (tt) => `
        let t = tb + ${tt}u;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < D4; d++) {
          s += dot(${rowAt(c, "qr", "q", tt)}, kj[d]);
          dp += dot(${rowAt(c, "gr", "dout", tt)}, vj[d]);
        }
        let valid = live && j <= t && t < u.T;
        let p = select(0.0, exp(s * u.scale - ${scalarAt(c, "lseT", tt)}), valid);
        let ds = select(0.0, u.scale * p * (dp - ${scalarAt(c, "deltaT", tt)}), valid);
        for (var d = 0u; d < D4; d++) {
          dvAcc[d] = select(dvAcc[d], dvAcc[d] + p * ${rowAt(c, "gr", "dout", tt)}, valid);
          dkAcc[d] = select(dkAcc[d], dkAcc[d] + ds * ${rowAt(c, "qr", "q", tt)}, valid);
        }`)}
    }
  }
  if (!live) { return; }
  for (var d = 0u; d < D4; d++) {
    dk[rowK + d] = dkAcc[d];
    dv[rowK + d] = dvAcc[d];
  }
}`,
  };
}
