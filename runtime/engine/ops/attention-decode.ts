// KV-cache attention for decoding and for scoring continuations (no backward: these paths
// never train). The cache is k_cache, v_cache: (B, Hkv, Tmax, D). That layout keeps each
// (row, kv head) history contiguous, so the decode kernel walks keys sequentially and a
// row's cache can be reset or copied as one span; appendKV scatters the projections'
// (B, Tq, Hkv, D) output into it.
//
// attentionDecode takes Tq >= 1 new query tokens per row; row b's token i sits at absolute
// position start[b] + i and attends causally to cache entries [0, start[b] + i], so rows of
// a batch may have different lengths (right padding, early stops, per-row prompts). The
// tokens' own keys/values must have been appended first. With start = 0 and Tq = prompt
// length it is a prefill; with Tq = 1 a decoding step; with Tq = |answer| it scores an
// answer after a prefix that is already cached.
//
// Lanes are query rows as in attention.ts (see attention-tile.ts). There is no buffer for
// probabilities here, so softmax is online: a running max m, sum l and output o, rescaled
// by exp(m_old - m_new) as each key arrives. A query position beyond the cache (start[b] +
// i >= Tmax) gives NaN, and appendKV drops writes beyond Tmax, so overflow cannot pass silently.
//
// Two schedules, the same arithmetic in the same order (bit-identical outputs, tested):
// "tile" (any Tq): lanes are the G * Tq query rows of one (row, kv head), as above; with
// Tq = 1 only G of its TILE lanes have work. "rows" (Tq = 1, a decoding step): one lane per
// (row, query head) of the whole batch, so every lane works; each lane walks its own cache
// span (on lavapipe every load in the key loop is per lane anyway, attention-tile.ts).
// Measured on lavapipe, 128 rows x 4 heads, ~60 cached keys: tile 5 ms, rows 0.6 ms per call.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { expectSize } from "./attention.js";
import { LOWEST, TILE, TILE_PARAMS, maskedLoop, tileBounds } from "./attention-tile.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

export interface KVCacheSizes {
  B: number;
  Tq: number; // new tokens per row in this call
  Hkv: number;
  D: number;
  Tmax: number; // cache capacity per row
}

export interface DecodeSizes extends KVCacheSizes {
  Hq: number;
}

const WG = 256;

const appendKernel: Kernel = {
  name: "attention_append_kv",
  bindings: [
    { name: "kc", access: "read_write" },
    { name: "vc", access: "read_write" },
    { name: "k", access: "read" },
    { name: "v", access: "read" },
    { name: "start", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "n", type: "u32" },
    { name: "Tq", type: "u32" },
    { name: "Hkv", type: "u32" },
    { name: "D", type: "u32" },
    { name: "Tmax", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let idx = ${FLAT_INDEX(WG)}; // over (b, i, kvh, d) of the new k/v
  if (idx >= u.n) { return; }
  let d = idx % u.D;
  let kvh = (idx / u.D) % u.Hkv;
  let bi = idx / (u.D * u.Hkv);
  let b = bi / u.Tq;
  let p = start[b] + bi % u.Tq;
  if (p >= u.Tmax) { return; }
  let dst = ((b * u.Hkv + kvh) * u.Tmax + p) * u.D + d;
  kc[dst] = k[idx];
  vc[dst] = v[idx];
}`,
};

const memo = new Map<number, Kernel>();
function decodeKernel(D: number): Kernel {
  let kern = memo.get(D);
  if (kern) return kern;
  kern = {
    name: `attention_decode_d${D}`,
    bindings: [
      { name: "out", access: "read_write", type: "vec4<f32>" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "kc", access: "read", type: "vec4<f32>" },
      { name: "vc", access: "read", type: "vec4<f32>" },
      { name: "start", access: "read", type: "u32" },
    ],
    uniforms: [
      { name: "Tq", type: "u32" },
      { name: "Hq", type: "u32" },
      { name: "Hkv", type: "u32" },
      { name: "Tmax", type: "u32" },
      { name: "scale", type: "f32" },
    ],
    workgroupSize: [TILE, 1, 1],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${TILE_PARAMS}) {
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  ${tileBounds("u.Tq", "G * u.Tq")}
  let r = r0 + lid;
  if (r >= G * u.Tq) { return; }
  let i = r % u.Tq;
  let h = kvh * G + r / u.Tq;
  let st = start[b];
  let pos = st + i; // this query's absolute position: keys [0, pos]
  let rowQ = ((b * u.Tq + i) * u.Hq + h) * D4;
  if (pos >= u.Tmax) {
    let nan = vec4<f32>(bitcast<f32>(0x7fc00000u + min(pos, 0u))); // runtime NaN: cache overflow
    for (var d = 0u; d < D4; d++) { out[rowQ + d] = nan; }
    return;
  }
  let posMax = min(st + iMax, u.Tmax - 1u);
  let kv0 = (b * u.Hkv + kvh) * u.Tmax * D4;
  var qr: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { qr[d] = q[rowQ + d]; }
  var o: array<vec4<f32>, D4>;
  var m = ${LOWEST};
  var l = 0.0;
  ${maskedLoop("j", "0u", "posMax", "j <= pos", (valid) => /* wgsl */ `
    let kj = kv0 + j * D4;
    var s = 0.0;
    for (var d = 0u; d < D4; d++) { s += dot(qr[d], kc[kj + d]); }
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
      o[d] = select(o[d], o[d] * c + p * vc[kj + d], ${valid});
    }`)}
  let inv = 1.0 / l;
  for (var d = 0u; d < D4; d++) { out[rowQ + d] = o[d] * inv; }
}`,
  };
  memo.set(D, kern);
  return kern;
}

/** Tq = 1: one lane per (b, h) over all B * Hq query rows; arithmetic as in decodeKernel. */
const ROWS_WG = 32;
const rowsMemo = new Map<number, Kernel>();
function decodeRowsKernel(D: number): Kernel {
  let kern = rowsMemo.get(D);
  if (kern) return kern;
  kern = {
    name: `attention_decode_rows_d${D}`,
    bindings: decodeKernel(D).bindings,
    uniforms: [
      { name: "rows", type: "u32" },
      { name: "Hq", type: "u32" },
      { name: "Hkv", type: "u32" },
      { name: "Tmax", type: "u32" },
      { name: "scale", type: "f32" },
    ],
    workgroupSize: [ROWS_WG, 1, 1],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${GRID_PARAMS}) {
  let r = ${FLAT_INDEX(ROWS_WG)}; // (b, h) flattened, the layout of q and out for Tq = 1
  if (r >= u.rows) { return; }
  let b = r / u.Hq;
  let h = r % u.Hq;
  let kvh = h / (u.Hq / u.Hkv);
  let pos = start[b];
  let rowQ = r * D4;
  if (pos >= u.Tmax) {
    let nan = vec4<f32>(bitcast<f32>(0x7fc00000u + min(pos, 0u))); // runtime NaN: cache overflow
    for (var d = 0u; d < D4; d++) { out[rowQ + d] = nan; }
    return;
  }
  let kv0 = (b * u.Hkv + kvh) * u.Tmax * D4;
  var qr: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { qr[d] = q[rowQ + d]; }
  var o: array<vec4<f32>, D4>;
  var m = ${LOWEST};
  var l = 0.0;
  for (var j = 0u; j <= pos; j++) {
    let kj = kv0 + j * D4;
    var s = 0.0;
    for (var d = 0u; d < D4; d++) { s += dot(qr[d], kc[kj + d]); }
    s *= u.scale;
    let mn = max(m, s);
    let c = exp(m - mn);
    let p = exp(s - mn);
    l = l * c + p;
    m = mn;
    for (var d = 0u; d < D4; d++) { o[d] = o[d] * c + p * vc[kj + d]; }
  }
  let inv = 1.0 / l;
  for (var d = 0u; d < D4; d++) { out[rowQ + d] = o[d] * inv; }
}`,
  };
  rowsMemo.set(D, kern);
  return kern;
}

export type DecodeSchedule = "tile" | "rows";

function checkSizes(name: string, s: Partial<DecodeSizes>): void {
  for (const [k, v] of Object.entries(s)) if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${name}: ${k}=${v} must be a positive integer`);
  if (s.D! % 4 !== 0) throw new Error(`${name}: head dim D=${s.D} must be a multiple of 4`);
  if (s.Hq !== undefined && s.Hq % s.Hkv! !== 0) throw new Error(`${name}: Hq=${s.Hq} must be a multiple of Hkv=${s.Hkv}`);
}

/** Write the new keys/values of each row at cache positions start[b] .. start[b] + Tq - 1. */
export function appendKV(
  gpu: Gpu,
  kCache: Tensor, // (B, Hkv, Tmax, D)
  vCache: Tensor, // (B, Hkv, Tmax, D)
  k: Tensor, // (B, Tq, Hkv, D)
  v: Tensor, // (B, Tq, Hkv, D)
  start: Tensor, // (B) u32
  s: KVCacheSizes,
): void {
  checkSizes("appendKV", s);
  const n = s.B * s.Tq * s.Hkv * s.D, nc = s.B * s.Hkv * s.Tmax * s.D;
  expectSize("appendKV", kCache, nc, "kCache");
  expectSize("appendKV", vCache, nc, "vCache");
  expectSize("appendKV", k, n, "k");
  expectSize("appendKV", v, n, "v");
  if (start.dtype !== "u32" || start.size !== s.B) throw new Error(`appendKV: start must be a u32 tensor of B = ${s.B} elements`);
  gpu.dispatch(appendKernel, [kCache, vCache, k, v, start], { n, Tq: s.Tq, Hkv: s.Hkv, D: s.D, Tmax: s.Tmax }, grid1d(n, WG));
}

/** out = causal attention of the Tq new queries of each row over its cache entries [0, start[b] + i]. */
export function attentionDecode(
  gpu: Gpu,
  out: Tensor, // (B, Tq, Hq, D)
  q: Tensor, // (B, Tq, Hq, D)
  kCache: Tensor, // (B, Hkv, Tmax, D)
  vCache: Tensor, // (B, Hkv, Tmax, D)
  start: Tensor, // (B) u32: absolute position of each row's first new token
  s: DecodeSizes,
  /** Default: "rows" for Tq = 1, else "tile" (see the file header). */
  schedule: DecodeSchedule = s.Tq === 1 ? "rows" : "tile",
): void {
  checkSizes("attentionDecode", s);
  if (schedule === "rows" && s.Tq !== 1) throw new Error(`attentionDecode: the 'rows' schedule needs Tq = 1, got ${s.Tq}`);
  const nq = s.B * s.Tq * s.Hq * s.D, nc = s.B * s.Hkv * s.Tmax * s.D;
  expectSize("attentionDecode", out, nq, "out");
  expectSize("attentionDecode", q, nq, "q");
  expectSize("attentionDecode", kCache, nc, "kCache");
  expectSize("attentionDecode", vCache, nc, "vCache");
  if (start.dtype !== "u32" || start.size !== s.B) throw new Error(`attentionDecode: start must be a u32 tensor of B = ${s.B} elements`);
  if (schedule === "rows") {
    const rows = s.B * s.Hq;
    gpu.dispatch(decodeRowsKernel(s.D), [out, q, kCache, vCache, start], { rows, Hq: s.Hq, Hkv: s.Hkv, Tmax: s.Tmax, scale: 1 / Math.sqrt(s.D) }, grid1d(rows, ROWS_WG));
    return;
  }
  const G = s.Hq / s.Hkv;
  const u = { Tq: s.Tq, Hq: s.Hq, Hkv: s.Hkv, Tmax: s.Tmax, scale: 1 / Math.sqrt(s.D) };
  gpu.dispatch(decodeKernel(s.D), [out, q, kCache, vCache, start], u, [Math.ceil((G * s.Tq) / TILE), s.Hkv, s.B]);
}
