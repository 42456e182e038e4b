// Embedding gather and its backward scatter-add, fp32.
//   forward:  out[n, :] = table[ids[n], :]
//   backward: dtable[v, :] (+)= sum over n with ids[n] == v of dout[n, :]
//
// Out-of-range ids (ids[n] >= V) are not an error on the GPU, which cannot raise one: forward
// writes a row of zeros for them and backward drops their gradient. Callers that want an error
// check ids on the CPU, where they come from (tokenizer output, sampled ids), with
// `invalidIds` / `assertIdsInRange` before upload.
//
// Deterministic backward without float atomics: invocation (c, block) owns column c of a block
// of vocabulary rows and walks all N tokens in order, adding only those whose id falls in its
// block. Every (v, c) is therefore summed by exactly one invocation, in token order, so the
// result is bitwise reproducible and independent of the blocking (it equals a sequential fp32
// loop over tokens). The id loads are the same for a whole workgroup, so skipping a token costs
// one broadcast load and a compare; blocks over V give parallelism beyond C / 64 workgroups.
//
// A table larger than one storage binding (a 151,936-row vocabulary) is bound a range of rows
// at a time (gpu.bindingRanges): forward gathers, per range, the tokens whose id falls in it
// (the first range also writes the zeros of out-of-range ids), backward adds into the range's
// rows. Each (v, c) is still summed by one invocation in token order: the same bits.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import { type Tensor, flatView } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;
/** Rows per workgroup of the per-row gather. */
const ROWS_WG = 64;
const COL_WG = 64;
/** Aim for at least this many workgroups in backward, so every core has work. */
const TARGET_WORKGROUPS = 64;

const forwardKernel: Kernel = {
  name: "embedding_forward",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "table", access: "read" },
    { name: "ids", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
    { name: "row0", type: "u32" }, // first table row bound (0 unless ranged)
    { name: "rows", type: "u32" }, // table rows bound
    { name: "first", type: "u32" }, // 1: this pass writes zeros for ids in no range
    { name: "V", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.N * u.C) { return; }
  let n = i / u.C;
  let c = i - n * u.C;
  let id = ids[n];
  // A branch, not select(): an out-of-range id must not even be used to index the table.
  if (id >= u.row0 && id < u.row0 + u.rows) {
    out[i] = table[(id - u.row0) * u.C + c];
  } else if (u.first != 0u && id >= u.V) {
    out[i] = 0.0;
  }
}`,
};

// The same gather for CPU adapters (lavapipe), for C % 4 == 0: one lane per token row, copying
// it a vec4 at a time. There every storage access with a computed address is a per-lane loop
// paid per access, and the flat kernel's division by C per element is scalarised, so moving a
// row per lane in vec4s is about 2.5x cheaper (15,744 rows of 64 floats: 5.5 against 13.8 ms of
// CPU). On a GPU the flat kernel's neighbouring lanes read neighbouring floats, which is what
// counts there. Bit-identical to the flat kernel: both copy the same floats.
const forwardRowsKernel: Kernel = {
  name: "embedding_forward_rows_vec4",
  bindings: [
    { name: "out", access: "read_write", type: "vec4<f32>" },
    { name: "table", access: "read", type: "vec4<f32>" },
    { name: "ids", access: "read", type: "u32" },
  ],
  uniforms: forwardKernel.uniforms, // C counts vec4s here
  workgroupSize: [ROWS_WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let n = ${FLAT_INDEX(ROWS_WG)};
  if (n >= u.N) { return; }
  let id = ids[n];
  let o = n * u.C;
  if (id >= u.row0 && id < u.row0 + u.rows) {
    let t = (id - u.row0) * u.C;
    for (var c = 0u; c < u.C; c++) { out[o + c] = table[t + c]; }
  } else if (u.first != 0u && id >= u.V) {
    for (var c = 0u; c < u.C; c++) { out[o + c] = vec4<f32>(0.0); }
  }
}`,
};

const backwardKernel: Kernel = {
  name: "embedding_backward",
  bindings: [
    { name: "dtable", access: "read_write" },
    { name: "dout", access: "read" },
    { name: "ids", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
    { name: "V", type: "u32" }, // rows bound: the table, or one range of it
    { name: "row0", type: "u32" }, // first table row bound
    { name: "rows_per_block", type: "u32" },
  ],
  workgroupSize: [COL_WG, 1, 1],
  body: /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let lo = gid.y * u.rows_per_block;
  let hi = min(lo + u.rows_per_block, u.V);
  if (c >= u.C) { return; }
  for (var n = 0u; n < u.N; n++) {
    // Ids below row0 wrap to large values and fail the bound check.
    let id = ids[n] - u.row0;
    if (id >= lo && id < hi) {
      let k = id * u.C + c;
      dtable[k] = dtable[k] + dout[n * u.C + c];
    }
  }
}`,
};

export interface EmbeddingSizes {
  /** Tokens. */
  N: number;
  /** Channels (embedding width). */
  C: number;
  /** Vocabulary rows in the table. */
  V: number;
}

export function embeddingForward(
  gpu: Gpu,
  out: Tensor, // (N, C)
  table: Tensor, // (V, C)
  ids: Tensor, // (N) u32
  { N, C, V }: EmbeddingSizes,
): void {
  const ranges = tableRanges(gpu, table, C, V);
  const perRow = gpu.info.isSoftware && C % 4 === 0;
  for (const { start, count } of ranges) {
    const bound = [out, tableRows(table, C, start, count), ids];
    const u = { N, V, row0: start, rows: count, first: start === 0 ? 1 : 0 };
    if (perRow) gpu.dispatch(forwardRowsKernel, bound, { ...u, C: C / 4 }, grid1d(N, ROWS_WG));
    else gpu.dispatch(forwardKernel, bound, { ...u, C }, grid1d(N * C, WG));
  }
}

/** Row ranges of a (V, C) table that each fit one storage binding (one range when the table does). */
function tableRanges(gpu: Gpu, table: Tensor, C: number, V: number): { start: number; count: number }[] {
  return gpu.bindingRanges(V, [C * 4], `embedding table '${table.label}' (${V} x ${C})`);
}

/** Rows start..start+count of a (V, C) table as a view. */
const tableRows = (table: Tensor, C: number, start: number, count: number): Tensor => flatView(table, start * C, count * C);

/** dtable overwrites (rows no token uses become 0) unless `accumulate` (tied weights, micro-batches). */
export function embeddingBackward(
  gpu: Gpu,
  dtable: Tensor, // (V, C)
  dout: Tensor, // (N, C)
  ids: Tensor, // (N) u32
  { N, C, V, accumulate = false }: EmbeddingSizes & { accumulate?: boolean },
): void {
  if (!accumulate) gpu.clear(dtable);
  if (V === 0 || C === 0) return; // an empty table has no gradient to add
  const colGroups = Math.ceil(C / COL_WG);
  for (const { start, count } of tableRanges(gpu, dtable, C, V)) {
    const blocks = Math.min(count, 65535, Math.max(1, Math.ceil(TARGET_WORKGROUPS / colGroups)));
    const rowsPerBlock = Math.ceil(count / blocks);
    gpu.dispatch(backwardKernel, [tableRows(dtable, C, start, count), dout, ids], { N, C, V: count, row0: start, rows_per_block: rowsPerBlock }, [colGroups, Math.ceil(count / rowsPerBlock)]);
  }
}

/** Positions n whose ids[n] is not a row of a V-row table (for reporting bad input). */
export function invalidIds(ids: ArrayLike<number>, V: number): number[] {
  const bad: number[] = [];
  for (let n = 0; n < ids.length; n++) if (!(ids[n]! < V)) bad.push(n);
  return bad;
}

/** Throw a RangeError naming the first bad position and the count when any id is >= V. */
export function assertIdsInRange(ids: ArrayLike<number>, V: number, what = "token ids"): void {
  const bad = invalidIds(ids, V);
  if (bad.length === 0) return;
  const n = bad[0]!;
  throw new RangeError(`${what}: ${bad.length} of ${ids.length} ids are outside the vocabulary [0, ${V}); first at position ${n} (id ${ids[n]})`);
}
