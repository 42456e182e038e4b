// Row gather-sum: dst[i, :] = sum over k in [offsets[i], offsets[i+1]) of src[idx[k], :], in k
// order; a row with an empty list is 0. It is the transpose of a row gather (embedding.ts
// embeddingForward with a map of rows): when one source row is read by several destination
// slots, the gradient of that source row is the sum of theirs. The shared-prefix update
// (model/shared-attention.ts) uses it to fold the full rows' key, value, query and hidden
// gradients back onto the packed tokens, each prompt token's gradient summed over the rows of
// its group. Deterministic: one invocation owns dst[i, c] and adds its list in the order the
// CPU built it (no atomics), so the result equals a sequential fp32 loop.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

const kernel: Kernel = {
  name: "row_gather_sum",
  bindings: [
    { name: "dst", access: "read_write" },
    { name: "src", access: "read" },
    { name: "offsets", access: "read", type: "u32" },
    { name: "idx", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "N", type: "u32" }, // dst rows
    { name: "C", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.N * u.C) { return; }
  let n = i / u.C;
  let c = i - n * u.C;
  var s = 0.0;
  for (var k = offsets[n]; k < offsets[n + 1u]; k++) { s += src[idx[k] * u.C + c]; }
  dst[i] = s;
}`,
};

export interface RowGatherSumSizes {
  N: number; // dst rows
  M: number; // src rows
  C: number; // values per row
}

/** dst (N, C) = per row, the sum of the src rows its list names (see the file header). */
export function rowGatherSum(
  gpu: Gpu,
  dst: Tensor, // (N, C)
  src: Tensor, // (M, C)
  offsets: Tensor, // (N + 1) u32, non-decreasing, offsets[N] = idx's length
  idx: Tensor, // (offsets[N]) u32 rows of src, each < M
  s: RowGatherSumSizes,
): void {
  for (const [k, v] of Object.entries(s)) if (!(Number.isInteger(v) && v >= 0)) throw new Error(`rowGatherSum: ${k} must be a non-negative integer, got ${v}`);
  if (dst.size !== s.N * s.C) throw new Error(`rowGatherSum: dst '${dst.label}' has ${dst.size} elements, expected N * C = ${s.N * s.C}`);
  if (src.size !== s.M * s.C) throw new Error(`rowGatherSum: src '${src.label}' has ${src.size} elements, expected M * C = ${s.M * s.C}`);
  if (offsets.dtype !== "u32" || offsets.size !== s.N + 1) throw new Error(`rowGatherSum: offsets '${offsets.label}' must be a u32 tensor of N + 1 = ${s.N + 1} elements`);
  if (idx.dtype !== "u32") throw new Error(`rowGatherSum: idx '${idx.label}' must be a u32 tensor`);
  if (dst.buffer === src.buffer) throw new Error("rowGatherSum: dst and src must be distinct buffers");
  if (s.N * s.C === 0) return;
  gpu.dispatch(kernel, [dst, src, offsets, idx], { N: s.N, C: s.C }, grid1d(s.N * s.C, WG));
}

/** The lists of a row gather's transpose: for each of M source rows, the dst slots whose map names it, in slot order. */
export function transposeRowMap(map: ArrayLike<number>, M: number): { offsets: Uint32Array; idx: Uint32Array } {
  const counts = new Uint32Array(M + 1);
  for (let n = 0; n < map.length; n++) if (map[n]! < M) counts[map[n]! + 1]!++;
  for (let m = 0; m < M; m++) counts[m + 1]! += counts[m]!;
  const idx = new Uint32Array(counts[M]!), next = counts.slice(0, M);
  for (let n = 0; n < map.length; n++) if (map[n]! < M) idx[next[map[n]!]!++] = n;
  return { offsets: counts, idx };
}
