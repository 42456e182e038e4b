// Decoding's fused attention input: from the packed output of one QKV projection, rotate
// q and k (RoPE, rope.ts semantics) and write the rotated keys and the values straight into
// the KV cache (appendKV semantics, attention-decode.ts). One dispatch instead of three
// (rope q, rope k, append) per layer and token; the unrotated k and v never get a buffer.
//
// qkv: (B*Tq, Hq*D + 2*Hkv*D), each row [q heads | k heads | v heads], what one matmul
// against the row-concatenated q_proj, k_proj, v_proj weights gives. Row n = b*Tq + i is
// rotated at position pos[n] and cached at slot start[b] + i (the caller keeps them equal,
// as for ropeForward + appendKV). Edge behaviour is theirs: a position outside the rope
// table writes NaN (into q, and into the cache for k), a slot >= Tmax is dropped.
// The arithmetic is rope.ts's (x1*c - x2*s, x2*c + x1*s), so the results are bit-identical
// to ropeForward + appendKV (tested).
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { expectSize } from "./attention.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";
import type { RopeTables } from "./rope.js";

const WG = 256;

const kernel: Kernel = {
  name: "decode_rope_append",
  bindings: [
    { name: "q", access: "read_write" },
    { name: "kc", access: "read_write" },
    { name: "vc", access: "read_write" },
    { name: "qkv", access: "read" },
    { name: "pos", access: "read", type: "u32" },
    { name: "start", access: "read", type: "u32" },
    { name: "cosT", access: "read" },
    { name: "sinT", access: "read" },
  ],
  uniforms: [
    { name: "n", type: "u32" }, // B * Tq * (Hq + 2 Hkv) * half
    { name: "Tq", type: "u32" },
    { name: "Hq", type: "u32" },
    { name: "Hkv", type: "u32" },
    { name: "half", type: "u32" },
    { name: "Tmax", type: "u32" },
    { name: "maxPos", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let idx = ${FLAT_INDEX(WG)};
  if (idx >= u.n) { return; }
  let H = u.Hq + 2u * u.Hkv;
  let D = 2u * u.half;
  let i = idx % u.half;
  let hh = (idx / u.half) % H; // head within the packed row: q heads, then k, then v
  let row = idx / (u.half * H); // b * Tq + t
  let src = row * H * D + hh * D;
  let x1 = qkv[src + i];
  let x2 = qkv[src + i + u.half];
  let b = row / u.Tq;
  let slot = start[b] + row % u.Tq;
  if (hh >= u.Hq + u.Hkv) {
    if (slot >= u.Tmax) { return; }
    let dst = ((b * u.Hkv + hh - u.Hq - u.Hkv) * u.Tmax + slot) * D;
    vc[dst + i] = x1;
    vc[dst + i + u.half] = x2;
    return;
  }
  let p = pos[row];
  var y1 = bitcast<f32>(0x7fc00000u + min(p, 0u)); // runtime NaN: position outside the table
  var y2 = y1;
  if (p < u.maxPos) {
    let c = cosT[p * u.half + i];
    let s = 1.0 * sinT[p * u.half + i];
    y1 = x1 * c - x2 * s;
    y2 = x2 * c + x1 * s;
  }
  if (hh < u.Hq) {
    let dst = (row * u.Hq + hh) * D;
    q[dst + i] = y1;
    q[dst + i + u.half] = y2;
    return;
  }
  if (slot >= u.Tmax) { return; }
  let dst = ((b * u.Hkv + hh - u.Hq) * u.Tmax + slot) * D;
  kc[dst + i] = y1;
  kc[dst + i + u.half] = y2;
}`,
};

export interface RopeAppendSizes {
  B: number;
  Tq: number;
  Hq: number;
  Hkv: number;
  D: number; // head dim, even
  Tmax: number; // cache capacity per row
}

/** q = rope(qkv's q heads); cache[start[b] + i] = rope(k heads), v heads. See the file header. */
export function decodeRopeAppend(
  gpu: Gpu,
  q: Tensor, // (B*Tq, Hq*D)
  kCache: Tensor, // (B, Hkv, Tmax, D)
  vCache: Tensor, // (B, Hkv, Tmax, D)
  qkv: Tensor, // (B*Tq, (Hq + 2 Hkv) * D)
  pos: Tensor, // (B*Tq) u32
  start: Tensor, // (B) u32
  tables: RopeTables,
  s: RopeAppendSizes,
): void {
  for (const [k, v] of Object.entries(s)) if (!Number.isInteger(v) || v < 1) throw new Error(`decodeRopeAppend: ${k}=${v} must be a positive integer`);
  if (s.D % 2 !== 0 || s.D !== tables.D) throw new Error(`decodeRopeAppend: head dim D=${s.D} must be even and match the rope tables (D=${tables.D})`);
  const N = s.B * s.Tq, nc = s.B * s.Hkv * s.Tmax * s.D;
  expectSize("decodeRopeAppend", q, N * s.Hq * s.D, "q");
  expectSize("decodeRopeAppend", kCache, nc, "kCache");
  expectSize("decodeRopeAppend", vCache, nc, "vCache");
  expectSize("decodeRopeAppend", qkv, N * (s.Hq + 2 * s.Hkv) * s.D, "qkv");
  if (pos.dtype !== "u32" || pos.size !== N) throw new Error(`decodeRopeAppend: pos must be a u32 tensor of B*Tq = ${N} elements`);
  if (start.dtype !== "u32" || start.size !== s.B) throw new Error(`decodeRopeAppend: start must be a u32 tensor of B = ${s.B} elements`);
  const half = s.D / 2, n = N * (s.Hq + 2 * s.Hkv) * half;
  gpu.dispatch(kernel, [q, kCache, vCache, qkv, pos, start, tables.cos, tables.sin], { n, Tq: s.Tq, Hq: s.Hq, Hkv: s.Hkv, half, Tmax: s.Tmax, maxPos: tables.maxPos }, grid1d(n, WG));
}
