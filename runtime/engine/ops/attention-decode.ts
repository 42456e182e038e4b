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
// Four schedules, the same arithmetic in the same order (bit-identical outputs, tested in
// test/runtime/attention-decode.test.ts against each other and the reference):
// "tile" (any Tq, attention-decode-tile.ts): lanes are the G * Tq query rows of one (row,
// kv head), as above; with Tq = 1 only G of its TILE lanes have work.
// "tile-sg" (any Tq, subgroups of >= 8 lanes; the default for Tq > 1 on CPU rasterisers, as
// attention.ts's "subgroup"): "tile" with each chunk of 8 keys loaded once by 8 lanes and
// shared by subgroup broadcasts instead of loaded by every lane.
// "rows" (Tq = 1, a decoding step; attention-decode-rows.ts): one lane per (row, block of
// query heads that share a kv head) over the whole batch, so every lane works and each key
// and value row is loaded once per block (on lavapipe every load in the key loop is a
// per-lane gather, attention-tile.ts, and these loads are the cost).
// "rows-sg" (Tq = 1, subgroups of >= 8 lanes, a `prefix` buffer; attention-decode-rows-sg.ts):
// "rows" for a batch whose aligned blocks of 8 rows share a prefix of keys and values (the
// responses of one prompt after generate()'s gatherPrefix): 8 lanes hold a block's 8 rows and
// load each shared key once for all 8, handing it round by subgroup broadcasts.
// Measured on lavapipe (Intel Xeon, 2 cores), CPU seconds per call: 128 rows x 4 heads over
// 2 kv heads, D 16, ~100 cached keys: see spec/speed.md ("Where the rest goes").
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { attentionSchedule, expectSize } from "./attention.js";
import { ROWS_WG, decodeRowsKernel, headsPerLane } from "./attention-decode-rows.js";
import { SG_ROWS, decodeRowsSgKernel } from "./attention-decode-rows-sg.js";
import { SG_TILE, decodeTileKernel, decodeTileSgKernel } from "./attention-decode-tile.js";
import { TILE } from "./attention-tile.js";
import { hasSubgroups8 } from "./matmul.js";
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

export type DecodeSchedule = "tile" | "tile-sg" | "rows" | "rows-sg";

/**
 * The default schedule: for Tq = 1 "rows-sg" where attention.ts uses its subgroup schedule and
 * the rows share prefixes (`shared`: a prefix buffer is given), else "rows"; for Tq > 1
 * "tile-sg" where attention.ts uses its subgroup schedule, else "tile".
 */
export function decodeSchedule(gpu: Gpu, Tq: number, shared = false): DecodeSchedule {
  const sg = attentionSchedule(gpu) === "subgroup";
  if (Tq === 1) return sg && shared ? "rows-sg" : "rows";
  return sg ? "tile-sg" : "tile";
}


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

/**
 * out = causal attention of the Tq new queries of each row over its cache entries [0, start[b] + i].
 * `prefix` (Tq = 1 only) lets "rows-sg" read a shared prefix once per block of 8 rows: the rows
 * 8k .. 8k + 7 must hold the same keys and values at every position below the smallest
 * prefix[b] of the block (0 where they share nothing). It never changes the outputs.
 */
export function attentionDecode(
  gpu: Gpu,
  out: Tensor, // (B, Tq, Hq, D)
  q: Tensor, // (B, Tq, Hq, D)
  kCache: Tensor, // (B, Hkv, Tmax, D)
  vCache: Tensor, // (B, Hkv, Tmax, D)
  start: Tensor, // (B) u32: absolute position of each row's first new token
  s: DecodeSizes,
  /** Default: decodeSchedule (see the file header). */
  schedule?: DecodeSchedule,
  prefix: Tensor | null = null, // (B) u32: shared prefix length of each row's block of 8
): void {
  checkSizes("attentionDecode", s);
  schedule ??= decodeSchedule(gpu, s.Tq, prefix !== null);
  if ((schedule === "rows" || schedule === "rows-sg") && s.Tq !== 1) throw new Error(`attentionDecode: the '${schedule}' schedule needs Tq = 1, got ${s.Tq}`);
  if ((schedule === "tile-sg" || schedule === "rows-sg") && !hasSubgroups8(gpu)) throw new Error(`attentionDecode: the '${schedule}' schedule needs subgroups of at least 8 lanes`);
  if (schedule === "rows-sg" && (prefix?.dtype !== "u32" || prefix.size !== s.B)) throw new Error(`attentionDecode: the 'rows-sg' schedule needs a u32 prefix tensor of B = ${s.B} elements`);
  const nq = s.B * s.Tq * s.Hq * s.D, nc = s.B * s.Hkv * s.Tmax * s.D;
  expectSize("attentionDecode", out, nq, "out");
  expectSize("attentionDecode", q, nq, "q");
  expectSize("attentionDecode", kCache, nc, "kCache");
  expectSize("attentionDecode", vCache, nc, "vCache");
  if (start.dtype !== "u32" || start.size !== s.B) throw new Error(`attentionDecode: start must be a u32 tensor of B = ${s.B} elements`);
  const scale = 1 / Math.sqrt(s.D), G = s.Hq / s.Hkv;
  const bufs = [out, q, kCache, vCache, start];
  if (schedule === "rows") {
    const GB = headsPerLane(G, s.D), rows = (s.B * s.Hq) / GB;
    gpu.dispatch(decodeRowsKernel(s.D, GB), bufs, { rows, Hq: s.Hq, Hkv: s.Hkv, Tmax: s.Tmax, scale }, grid1d(rows, ROWS_WG));
    return;
  }
  if (schedule === "rows-sg") {
    const GB = headsPerLane(G, s.D);
    gpu.dispatch(decodeRowsSgKernel(s.D, GB), [...bufs, prefix!], { B: s.B, Hq: s.Hq, Hkv: s.Hkv, Tmax: s.Tmax, scale }, [s.Hq / GB, Math.ceil(s.B / SG_ROWS), 1]);
    return;
  }
  const u = { Tq: s.Tq, Hq: s.Hq, Hkv: s.Hkv, Tmax: s.Tmax, scale };
  if (schedule === "tile-sg") gpu.dispatch(decodeTileSgKernel(s.D), bufs, u, [Math.ceil((G * s.Tq) / SG_TILE), s.Hkv, s.B]);
  else gpu.dispatch(decodeTileKernel(s.D), bufs, u, [Math.ceil((G * s.Tq) / TILE), s.Hkv, s.B]);
}
