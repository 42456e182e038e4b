// The "rows" schedule of attentionDecode (attention-decode.ts), Tq = 1 (a decoding step):
// one lane per (row, block of GB query heads) over the whole batch, so every lane works
// (a "tile" workgroup of TILE lanes would hold only G rows). The GB heads of a block share
// one kv head (GB divides G = Hq / Hkv), so the lane loads each key and value row once and
// applies it to GB queries: on lavapipe every load in the key loop is a per-lane gather
// (attention-tile.ts) and dominates the cost, so GB heads per lane cut the loads GB-fold.
// Per head the arithmetic is that of the "tile" schedule: an online softmax over keys
// j = 0..pos in order, the same dot-product order over d, so outputs are bit-identical
// (test/runtime/attention-decode.test.ts). Every lane's keys are valid (Tq = 1: one
// position per row), so the loop needs no mask.
import type { Kernel } from "../kernel.js";
import { DECODE_BINDINGS } from "./attention-decode-tile.js";
import { LOWEST } from "./attention-tile.js";
import { FLAT_INDEX, GRID_PARAMS } from "./grid.js";

/** Lanes per workgroup: 4 lavapipe SIMD passes of 8. */
export const ROWS_WG = 32;

/**
 * Private floats a lane may hold for its GB queries and outputs (2 * GB * D). The bound is
 * lavapipe's compile time, which grows steeply with them (CPU seconds, first dispatch, Mesa's
 * shader cache off): D 16 with GB 1, 2, 4: 0.8, 1.7, 5.4; D 32 with GB 1, 2, 4: 4.1, 8.6, 23.
 */
const MAX_BLOCK_FLOATS = 64;

/** Query heads per lane: the largest divisor of G whose queries and outputs fit MAX_BLOCK_FLOATS. */
export function headsPerLane(G: number, D: number): number {
  for (let gb = G; gb > 1; gb--) if (G % gb === 0 && 2 * gb * D <= MAX_BLOCK_FLOATS) return gb;
  return 1;
}

/**
 * WGSL: head g's online-softmax step over one key and value row (private arrays `k`, `v` of
 * D4 vec4s; needs qr, o, m, l of the block). The "rows" schedules all step through this text,
 * so their arithmetic and its order are the same (bit-identical outputs).
 */
export const rowsKeyStep = (g: number, k: string, v: string): string => /* wgsl */ `{
      var s = 0.0;
      for (var d = 0u; d < D4; d++) { s += dot(qr[${g}][d], ${k}[d]); }
      s *= u.scale;
      let mn = max(m[${g}], s);
      let c = exp(m[${g}] - mn);
      let p = exp(s - mn);
      l[${g}] = l[${g}] * c + p;
      m[${g}] = mn;
      for (var d = 0u; d < D4; d++) { o[${g}][d] = o[${g}][d] * c + p * ${v}[d]; }
    }`;

/** WGSL: `body(g)` for each head g of the block, unrolled so every private array index is a constant (registers, not scratch). */
export const unrollHeads = (GB: number, body: (g: number) => string): string => Array.from({ length: GB }, (_, g) => body(g)).join("\n  ");

/** WGSL: the block's state (qr, o, m, l over GB heads of D4 vec4s), its queries loaded from q at rowQ. */
export const rowsState = (D: number, GB: number): string => /* wgsl */ `var qr: array<array<vec4<f32>, D4>, GB>;
  var o: array<array<vec4<f32>, D4>, GB>;
  var m: array<f32, GB>;
  var l: array<f32, GB>;
  ${unrollHeads(GB, (g) => `for (var d = 0u; d < D4; d++) { qr[${g}][d] = q[rowQ + ${g * (D / 4)}u + d]; }
  m[${g}] = ${LOWEST};`)}`;

/** WGSL: a row past the cache (pos >= Tmax) stores NaN at its GB output rows and returns. */
export const ROWS_OVERFLOW = /* wgsl */ `if (pos >= u.Tmax) {
    let nan = vec4<f32>(bitcast<f32>(0x7fc00000u + min(pos, 0u))); // runtime NaN: cache overflow
    for (var d = 0u; d < GB * D4; d++) { out[rowQ + d] = nan; }
    return;
  }`;

/** WGSL: the lane's keys j = first..pos, each loaded by the lane itself (kv0 its row's cache), stepped through every head. */
export const rowsOwnKeys = (first: string, GB: number): string => /* wgsl */ `for (var j = ${first}; j <= pos; j++) {
    let kj = kv0 + j * D4;
    var kr: array<vec4<f32>, D4>;
    var vr: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) { kr[d] = kc[kj + d]; vr[d] = vc[kj + d]; }
    ${unrollHeads(GB, (g) => rowsKeyStep(g, "kr", "vr"))}
  }`;

/** WGSL: each head's output, o / l, into out at rowQ. */
export const rowsStore = (D: number, GB: number): string =>
  unrollHeads(GB, (g) => `for (var d = 0u; d < D4; d++) { out[rowQ + ${g * (D / 4)}u + d] = o[${g}][d] * (1.0 / l[${g}]); }`);

const memo = new Map<string, Kernel>();
/** Grid: grid1d(B * Hq / GB, ROWS_WG); uniforms rows = B * Hq / GB, Hq, Hkv, Tmax, scale. */
export function decodeRowsKernel(D: number, GB: number): Kernel {
  const key = `${D}:${GB}`;
  let kern = memo.get(key);
  if (kern) return kern;
  kern = {
    name: `attention_decode_rows_d${D}_g${GB}`,
    bindings: DECODE_BINDINGS,
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
const GB = ${GB}u;
fn main(${GRID_PARAMS}) {
  let r = ${FLAT_INDEX(ROWS_WG)}; // (b, head block) flattened
  if (r >= u.rows) { return; }
  let b = r / (u.Hq / GB);
  let h0 = (r % (u.Hq / GB)) * GB; // first head of the block
  let kvh = h0 / (u.Hq / u.Hkv);
  let pos = start[b];
  let rowQ = r * GB * D4; // q and out (b, h0) for Tq = 1: the block's GB rows are contiguous
  ${ROWS_OVERFLOW}
  let kv0 = (b * u.Hkv + kvh) * u.Tmax * D4;
  ${rowsState(D, GB)}
  ${rowsOwnKeys("0u", GB)}
  ${rowsStore(D, GB)}
}`,
  };
  memo.set(key, kern);
  return kern;
}
