// The "tile" schedules of attentionDecode (attention-decode.ts): lanes are the G * Tq query
// rows of one (row, kv head), as in attention.ts (attention-tile.ts), each with its own
// online softmax over keys j = 0, 1, ... in order.
//
// "tile" (any adapter): every lane loads every key and value row itself. On a GPU those
// loads are uniform across the lanes and cheap; on lavapipe each is a per-lane gather.
// "tile-sg" (subgroups of >= 8 lanes): as attention-sg.ts does for training, the key loop
// walks chunks of 8 keys, lane l of the 8-lane workgroup loads key (chunk + l), and
// subgroupBroadcast with a constant lane hands key chunk + jj to every lane: one gather
// brings 8 rows instead of one row 8 times. The per-lane arithmetic and the order of keys are
// those of "tile", so the outputs are bit-identical (test/runtime/attention-decode.test.ts).
// Lanes past the last query row, and rows past the cache, compute a clamped copy instead of
// returning (the broadcasts need the whole subgroup in uniform control flow) and store
// nothing or NaN at the end. The workgroup is one 8-lane subgroup, not TILE lanes: sharing
// happens within a subgroup only, and the attribution shape (G * Tq = 16 rows) would leave
// half of a 32-lane tile computing clamped copies.
import type { Kernel } from "../kernel.js";
import { LOWEST, TILE, TILE_PARAMS, maskedLoop, tileBounds } from "./attention-tile.js";

/** Lanes of a "tile-sg" workgroup: one subgroup of 8, each loading one key of a chunk. */
export const SG_TILE = 8;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The bindings of every attentionDecode kernel. */
export const DECODE_BINDINGS: Kernel["bindings"] = [
  { name: "out", access: "read_write", type: "vec4<f32>" }, // (B, Tq, Hq, D)
  { name: "q", access: "read", type: "vec4<f32>" }, // (B, Tq, Hq, D)
  { name: "kc", access: "read", type: "vec4<f32>" }, // (B, Hkv, Tmax, D)
  { name: "vc", access: "read", type: "vec4<f32>" }, // (B, Hkv, Tmax, D)
  { name: "start", access: "read", type: "u32" }, // (B)
];

const UNIFORMS: Kernel["uniforms"] = [
  { name: "Tq", type: "u32" },
  { name: "Hq", type: "u32" },
  { name: "Hkv", type: "u32" },
  { name: "Tmax", type: "u32" },
  { name: "scale", type: "f32" },
];

/** WGSL: a runtime NaN (a constant one would be folded and rejected), stored over a row of out. */
const NAN_ROW = /* wgsl */ `let nan = vec4<f32>(bitcast<f32>(0x7fc00000u + min(pos, 0u))); // runtime NaN: cache overflow
    for (var d = 0u; d < D4; d++) { out[rowQ + d] = nan; }`;

/** WGSL: the lane's query row, cache span and running state (needs r, kvh, b, iMax). */
const ROW_STATE = /* wgsl */ `
  let i = r % u.Tq;
  let h = kvh * G + r / u.Tq;
  let st = start[b];
  let pos = st + i; // this query's absolute position: keys [0, pos]
  let rowQ = ((b * u.Tq + i) * u.Hq + h) * D4;
  let posMax = min(st + iMax, u.Tmax - 1u);
  let kv0 = (b * u.Hkv + kvh) * u.Tmax * D4;`;

const QUERY_AND_STATE = /* wgsl */ `
  var qr: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { qr[d] = q[rowQ + d]; }
  var o: array<vec4<f32>, D4>;
  var m = ${LOWEST};
  var l = 0.0;`;

/**
 * WGSL: one key of the online softmax; `k(d)` and `v(d)` are the key's and value's d-th vec4.
 * Masked keys (valid false) leave m, l, o exactly as they were (select, so NaN stays out).
 */
const onlineStep = (k: (d: string) => string, v: (d: string) => string, valid: string): string => /* wgsl */ `
    var s = 0.0;
    for (var d = 0u; d < D4; d++) { s += dot(qr[d], ${k("d")}); }
    s *= u.scale;
    var c = 1.0;
    var p = 0.0;
    if (${valid}) {
      let mn = max(m, s);
      c = exp(m - mn);
      p = exp(s - mn);
      l = l * c + p;
      m = mn;
    }
    for (var d = 0u; d < D4; d++) {
      o[d] = select(o[d], o[d] * c + p * ${v("d")}, ${valid});
    }`;

const STORE = /* wgsl */ `
  let inv = 1.0 / l;
  for (var d = 0u; d < D4; d++) { out[rowQ + d] = o[d] * inv; }`;

const memo = new Map<number, Kernel>();
/** "tile": TILE rows per workgroup, grid (ceil(G * Tq / TILE), Hkv, B). */
export function decodeTileKernel(D: number): Kernel {
  let kern = memo.get(D);
  if (kern) return kern;
  kern = {
    name: `attention_decode_d${D}`,
    bindings: DECODE_BINDINGS,
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${TILE_PARAMS}) {
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  ${tileBounds("u.Tq", "G * u.Tq")}
  let r = r0 + lid;
  if (r >= G * u.Tq) { return; }${ROW_STATE}
  if (pos >= u.Tmax) {
    ${NAN_ROW}
    return;
  }${QUERY_AND_STATE}
  ${maskedLoop("j", "0u", "posMax", "j <= pos", (valid) => /* wgsl */ `
    let kj = kv0 + j * D4;${onlineStep((d) => `kc[kj + ${d}]`, (d) => `vc[kj + ${d}]`, valid)}`)}${STORE}
}`,
  };
  memo.set(D, kern);
  return kern;
}

const sgMemo = new Map<number, Kernel>();
/** "tile-sg": SG_TILE rows per workgroup, grid (ceil(G * Tq / SG_TILE), Hkv, B); needs subgroups >= 8. */
export function decodeTileSgKernel(D: number): Kernel {
  let kern = sgMemo.get(D);
  if (kern) return kern;
  kern = {
    name: `attention_decode_sg_d${D}`,
    bindings: DECODE_BINDINGS,
    uniforms: UNIFORMS,
    workgroupSize: [SG_TILE, 1, 1],
    enables: ["subgroups"],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${TILE_PARAMS}, @builtin(subgroup_invocation_id) sgid: u32) {
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  let r0 = wid.x * ${SG_TILE}u;
  let rLast = min(r0 + ${SG_TILE}u, G * u.Tq) - 1u;
  let iMax = select(rLast % u.Tq, u.Tq - 1u, r0 / u.Tq != rLast / u.Tq); // uniform: largest i of the tile
  let live = r0 + lid < G * u.Tq;
  let r = min(r0 + lid, G * u.Tq - 1u);${ROW_STATE}
  let sg = sgid & 7u;${QUERY_AND_STATE}
  // posMax is uniform, so is the loop; keys past posMax (last chunk) are also past every
  // lane's pos unless the lane overflows the cache, whose result is replaced by NaN below.
  for (var jb = 0u; jb <= posMax; jb += 8u) {
    let jl = kv0 + min(jb + sg, posMax) * D4;
    var kr: array<vec4<f32>, D4>;
    var vr: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) { kr[d] = kc[jl + d]; vr[d] = vc[jl + d]; }
    ${range(8).map((jj) => `{
    let j = jb + ${jj}u;${onlineStep((d) => `subgroupBroadcast(kr[${d}], ${jj}u)`, (d) => `subgroupBroadcast(vr[${d}], ${jj}u)`, "j <= pos")}
    }`).join("\n    ")}
  }
  if (!live) { return; }
  if (pos >= u.Tmax) {
    ${NAN_ROW}
    return;
  }${STORE}
}`,
  };
  sgMemo.set(D, kern);
  return kern;
}
