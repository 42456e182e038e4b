// The "rows-sg" schedule of attentionDecode (attention-decode.ts), Tq = 1 (a decoding step)
// over a batch whose rows come in aligned blocks of 8 that share a prefix: generate() gives
// the G responses of a prompt that prompt's keys and values (KVCache.gatherPrefix), so with
// G a multiple of 8 and each prompt's rows adjacent, rows 8k .. 8k + 7 hold the same bits at
// positions below the prompt's length, and only their own tokens after it differ.
//
// Lanes are those of "rows" (attention-decode-rows.ts: one per row and block of GB query
// heads sharing a kv head), arranged so that an 8-lane workgroup (one subgroup) holds the 8
// rows of one block for one head block. Below the block's shared length S the key loop walks
// chunks of 8 keys as "tile-sg" does: lane l loads key (chunk + l) from its own row (any row
// of the block holds the same bits there) and subgroupBroadcast with a constant lane hands
// key chunk + jj to every lane, so one per-lane gather brings 8 key rows instead of one (on
// lavapipe every load in the key loop is a per-lane gather, attention-tile.ts). The keys from
// the last whole chunk below S up to the lane's own position are loaded per lane as in "rows".
// Each lane steps its heads through the same text as "rows" (rowsKeyStep), over keys
// j = 0..pos in order, so the outputs are bit-identical (test/runtime/attention-decode.test.ts).
//
// S is uniform by construction (computed from the workgroup id and read-only buffers only),
// as the broadcasts need: the smallest prefix[b] of the block's rows, capped by each row's
// pos + 1 and by Tmax, and 0 for a block with rows past B. A row past the cache (pos >= Tmax)
// still walks the shared chunks with its block, then stores NaN.
import type { Kernel } from "../kernel.js";
import { ROWS_OVERFLOW, rowsKeyStep, rowsOwnKeys, rowsState, rowsStore, unrollHeads } from "./attention-decode-rows.js";
import { DECODE_BINDINGS } from "./attention-decode-tile.js";
import { TILE_PARAMS } from "./attention-tile.js";

/** Rows per block: the lanes of one workgroup, one subgroup of 8. */
export const SG_ROWS = 8;

const memo = new Map<string, Kernel>();
/**
 * Grid (Hq / GB, ceil(B / SG_ROWS)); uniforms B, Hq, Hkv, Tmax, scale; bindings those of
 * every decode kernel, then prefix (B) u32: rows of an aligned block of 8 hold the same keys
 * and values at the positions below the smallest prefix of the block. Needs subgroups >= 8.
 */
export function decodeRowsSgKernel(D: number, GB: number): Kernel {
  const key = `${D}:${GB}`;
  let kern = memo.get(key);
  if (kern) return kern;
  kern = {
    name: `attention_decode_rows_sg_d${D}_g${GB}`,
    bindings: [...DECODE_BINDINGS, { name: "prefix", access: "read", type: "u32" }], // prefix (B)
    uniforms: [
      { name: "B", type: "u32" },
      { name: "Hq", type: "u32" },
      { name: "Hkv", type: "u32" },
      { name: "Tmax", type: "u32" },
      { name: "scale", type: "f32" },
    ],
    workgroupSize: [SG_ROWS, 1, 1],
    enables: ["subgroups"],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
const GB = ${GB}u;
fn main(${TILE_PARAMS}, @builtin(subgroup_invocation_id) sgid: u32) {
  let h0 = wid.x * GB; // first head of the block
  let b0 = wid.y * ${SG_ROWS}u; // first row of the block
  let live = b0 + lid < u.B;
  let b = min(b0 + lid, u.B - 1u);
  let kvh = h0 / (u.Hq / u.Hkv);
  let pos = start[b];
  let rowQ = (b * u.Hq + h0) * D4; // q and out (b, h0) for Tq = 1: the block's GB rows are contiguous
  let kv0 = (b * u.Hkv + kvh) * u.Tmax * D4;
  // The shared keys: uniform (wid and read-only buffers only), whole chunks of 8.
  var S = 0u;
  if (b0 + ${SG_ROWS}u <= u.B) {
    S = u.Tmax;
    for (var i = 0u; i < ${SG_ROWS}u; i++) { S = min(S, min(prefix[b0 + i], start[b0 + i] + 1u)); }
  }
  let S8 = S & ~7u;
  let sg = sgid & 7u;
  ${rowsState(D, GB)}
  for (var jb = 0u; jb < S8; jb += 8u) {
    let jl = kv0 + (jb + sg) * D4;
    var kl: array<vec4<f32>, D4>;
    var vl: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) { kl[d] = kc[jl + d]; vl[d] = vc[jl + d]; }
    ${Array.from({ length: 8 }, (_, jj) => `{
    var kr: array<vec4<f32>, D4>;
    var vr: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) { kr[d] = subgroupBroadcast(kl[d], ${jj}u); vr[d] = subgroupBroadcast(vl[d], ${jj}u); }
    ${unrollHeads(GB, (g) => rowsKeyStep(g, "kr", "vr"))}
    }`).join("\n    ")}
  }
  if (!live) { return; }
  ${ROWS_OVERFLOW}
  ${rowsOwnKeys("S8", GB)}
  ${rowsStore(D, GB)}
}`,
  };
  memo.set(key, kern);
  return kern;
}
