// WGSL helpers shared by the attention kernels (attention.ts, attention-decode.ts).
//
// Decomposition: one lane per query row, TILE consecutive rows per workgroup, all rows of a
// workgroup reading the same kv head (the query heads of one GQA group are adjacent, so the
// flattened row index r = g * T + t over a group's G heads keeps one kv head per tile).
// Every lane then walks the same key index j at the same time, so the key/value loads are
// uniform across the lanes and each key/value row read from memory serves up to TILE query
// rows; per lane the work is O(T*D), no lane does O(T^2) serial work, and a (B, Hkv, row
// tile) grid gives hundreds of workgroups at the sizes.
// Measured on Mesa 25.0 lavapipe: a loop counter lives in a vector register there, so any
// address derived from j counts as divergent and every load in the j loop is split into one
// scalar access per lane (and per vec4 component), even though all lanes read the same
// address. Each loaded float feeds one FMA per lane, which bounds these kernels at about
// 1-1.5 GFLOP per CPU-second (the same FMAs with register operands run at ~15). Blocking
// several query rows per lane would reuse each load; it multiplies the registers per lane and
// the shader compile time. Where subgroups exist, attention-sg.ts instead shares each
// load across 8 lanes with subgroup broadcasts (2-3x on lavapipe). Rows of one tile have different causal limits; the loop
// over j is split at the tile's smallest limit: below it every lane is active and the body
// needs no mask, above it a select keeps masked (future) entries out — including NaN or inf
// stored there, which a multiply by 0 would let through.

/** Query rows per workgroup: 4 lavapipe SIMD passes of 8 lanes, one warp on an NVIDIA GPU. */
export const TILE = 32;

/** The lowest finite f32: a running max starts here, so no infinity constant is needed. */
export const LOWEST = "-0x1.fffffep+127f";

/** Builtins the tile kernels take. */
export const TILE_PARAMS = "@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32";

/**
 * WGSL computing, for the tile of flattened rows [r0, r0 + TILE) of `rows` = G * `len` rows
 * (row r is head g = r / len, index i = r % len), the uniform value `iMax`: the largest i in
 * the tile (len - 1 when the tile spans two heads).
 */
export function tileBounds(len: string, rows: string): string {
  return /* wgsl */ `
  let r0 = wid.x * ${TILE}u;
  let rLast = min(r0 + ${TILE}u, ${rows}) - 1u;
  let iMax = select(rLast % ${len}, ${len} - 1u, r0 / ${len} != rLast / ${len});`;
}

/**
 * WGSL prelude of the per-query-row kernels whose lanes past the last row are clamped onto it
 * instead of returning (they still take part in subgroup broadcasts; `live` says which are
 * real): the lane's row, its q/out row, the kv rows, and `rowLine`, the kernel's own index
 * into its per-row buffer (attention-sg.ts: the att row; attention-recompute-wgsl.ts: lse).
 */
export const clampedRowPrelude = (rowLine: string, offset?: QueryOffset): string => /* wgsl */ `
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  ${tileBounds("u.T", "G * u.T")}
  let ${offset ? "inRange" : "live"} = r0 + lid < G * u.T;
  let r = min(r0 + lid, G * u.T - 1u);
  let t = r % u.T;
  let h = kvh * G + r / u.T;
  let rowQ = ((b * u.T + t) * u.Hq + h) * D4; // vec4 index of q/out row (b, t, h)
  let kv0 = (b * u.T * u.Hkv + kvh) * D4; // vec4 index of k/v row (b, 0, kvh)
  let kvStride = u.Hkv * D4; // between consecutive tokens
  ${rowLine}${offset ? offsetPrelude(offset) : ""}`;

/**
 * The per-row query offset of the shared-prefix layout (runtime/engine/model/shared-rows.ts):
 * row b computes only its queries t >= qStart[b] (binding `qStart`, (B) u32); below it a
 * query row is skipped and `zero` (WGSL, this lane's row) writes 0 where its outputs go.
 * Kernels built without it keep their exact whole-row source (and bits).
 */
export interface QueryOffset {
  zero: string;
}

/** The binding of the offset variant, after the kernel's own. */
export const QSTART_BINDING = { name: "qStart", access: "read", type: "u32" } as const;

/**
 * WGSL after clampedRowPrelude's rows, offset variant: `live` also drops rows below the
 * offset, and a tile whose every row lies below it (a uniform condition: qStart is read-only
 * storage at a uniform index) zeroes its rows and returns before any key is read.
 */
const offsetPrelude = (o: QueryOffset): string => /* wgsl */ `
  let q0 = qStart[b]; // the row's first computed query
  let live = inRange && t >= q0;
  if (iMax < q0) {
    ${skippedRow(o)}
    return;
  }`;

/** WGSL zeroing a skipped lane's row outputs (lanes past the last row write nothing). */
export const skippedRow = (o: QueryOffset): string => `if (inRange) { ${o.zero} }`;

/** WGSL of the clamped kernels' last guard before their stores: skipped rows write their zeros. */
export const liveOrReturn = (offset?: QueryOffset): string =>
  offset ? `if (!live) {
    ${skippedRow(offset)}
    return;
  }` : "if (!live) { return; }";

/** WGSL: zero D4 vec4s of `buf` from `at`. */
export const zeroRow = (buf: string, at: string): string => `for (var d = 0u; d < D4; d++) { ${buf}[${at} + d] = vec4<f32>(0.0); }`;

/**
 * A loop over `v` in [from, to] whose body masks with `cond` (a select, not a multiply by 0,
 * so NaN or inf stored in masked entries stays out). One masked body instead of an unmasked
 * loop plus a masked tail: on lavapipe the loads dominate and a select is nearly free, while
 * a second copy of the unrolled body doubles the shader's compile time.
 */
export function maskedLoop(v: string, from: string, to: string, cond: string, body: (valid: string) => string): string {
  return /* wgsl */ `
  for (var ${v} = ${from}; ${v} <= ${to}; ${v}++) {${body(cond)}
  }`;
}
