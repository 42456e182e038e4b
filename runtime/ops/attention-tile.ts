// WGSL helpers shared by the attention kernels (attention.ts, attention-decode.ts).
//
// Decomposition: one lane per query row, TILE consecutive rows per workgroup, all rows of a
// workgroup reading the same kv head (the query heads of one GQA group are adjacent, so the
// flattened row index r = g * T + t over a group's G heads keeps one kv head per tile).
// Every lane then walks the same key index j at the same time, so the key/value loads are
// uniform across the lanes (lavapipe turns them into one broadcast load for 8 lanes) and each
// key/value row read from memory serves up to TILE query rows. Per lane the work is O(T*D):
// no lane does O(T^2) serial work. Rows of one tile have different causal limits; the loop
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
 * (row r is head g = r / len, index i = r % len), the uniform values `iMin` and `iMax`: the
 * smallest and largest i in the tile (0 and len-1 when the tile spans two heads).
 */
export function tileBounds(len: string, rows: string): string {
  return /* wgsl */ `
  let r0 = wid.x * ${TILE}u;
  let rLast = min(r0 + ${TILE}u, ${rows}) - 1u;
  let spans = r0 / ${len} != rLast / ${len};
  let iMin = select(r0 % ${len}, 0u, spans);
  let iMax = select(rLast % ${len}, ${len} - 1u, spans);`;
}

/**
 * Two loops over `v` in [from, split] and (split, to], running `body(valid)`; in the first
 * `valid` is the literal `true` (every lane active), in the second it is `cond`.
 */
export function splitLoop(v: string, from: string, split: string, to: string, cond: string, body: (valid: string) => string): string {
  return /* wgsl */ `
  for (var ${v} = ${from}; ${v} <= ${split}; ${v}++) {${body("true")}
  }
  for (var ${v} = ${split} + 1u; ${v} <= ${to}; ${v}++) {${body(cond)}
  }`;
}
