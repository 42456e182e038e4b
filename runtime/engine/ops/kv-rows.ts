// KV-cache row gather: the keys and values of the first T positions of every row of a cache
// come from a row of another cache, dst[b, h, t, :] = src[rows[b], h, t, :] for t < T, for the
// key and the value tensors in one dispatch. generate() prefills each distinct prompt once into
// a small cache and gives every response row of its group its prompt's keys and values this way
// (a group of G responses to one prompt would otherwise run the prefill G times). Bits are
// copied as they are (u32 view), so the rows hold exactly what the prefill wrote. Positions
// t >= T of dst are left untouched; so is a row whose rows[b] >= U (no source row), which the
// caller avoids: the map is built on the CPU, where an error can be raised.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

const kvRowsKernel: Kernel = {
  name: "kv_gather_rows",
  bindings: [
    { name: "kd", access: "read_write", type: "u32" },
    { name: "vd", access: "read_write", type: "u32" },
    { name: "ks", access: "read", type: "u32" },
    { name: "vs", access: "read", type: "u32" },
    { name: "rows", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "n", type: "u32" }, // B * H * T * D
    { name: "H", type: "u32" },
    { name: "T", type: "u32" },
    { name: "D", type: "u32" },
    { name: "Td", type: "u32" },
    { name: "Ts", type: "u32" },
    { name: "U", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  let d = i % u.D;
  let bht = i / u.D;
  let t = bht % u.T;
  let bh = bht / u.T;
  let h = bh % u.H;
  let b = bh / u.H;
  let s = rows[b];
  if (s >= u.U) { return; }
  let si = ((s * u.H + h) * u.Ts + t) * u.D + d;
  let di = ((b * u.H + h) * u.Td + t) * u.D + d;
  kd[di] = ks[si];
  vd[di] = vs[si];
}`,
};

export interface KvRowsSizes {
  B: number; // dst rows
  U: number; // src rows
  H: number; // key/value heads
  T: number; // positions copied from the start of each row
  D: number; // head dim
  Td: number; // dst positions per row (its Tmax)
  Ts: number; // src positions per row
}

/** dst[b, :, t, :] = src[rows[b], :, t, :] for t < T, keys and values (see the file header). */
export function kvGatherRows(
  gpu: Gpu,
  kDst: Tensor, // (B, H, Td, D)
  vDst: Tensor, // (B, H, Td, D)
  kSrc: Tensor, // (U, H, Ts, D)
  vSrc: Tensor, // (U, H, Ts, D)
  rows: Tensor, // (B) u32, each < U
  s: KvRowsSizes,
): void {
  for (const [k, v] of Object.entries(s)) if (!(Number.isInteger(v) && v >= 0)) throw new Error(`kvGatherRows: ${k} must be a non-negative integer, got ${v}`);
  if (s.T > s.Td || s.T > s.Ts) throw new Error(`kvGatherRows: T = ${s.T} positions exceed the destination's ${s.Td} or the source's ${s.Ts}`);
  const nd = s.B * s.H * s.Td * s.D, ns = s.U * s.H * s.Ts * s.D;
  for (const [name, t, n] of [["kDst", kDst, nd], ["vDst", vDst, nd], ["kSrc", kSrc, ns], ["vSrc", vSrc, ns]] as const) {
    if (t.size !== n) throw new Error(`kvGatherRows: ${name} '${t.label}' has ${t.size} elements, expected ${n} for the sizes ${JSON.stringify(s)}`);
  }
  if (rows.dtype !== "u32" || rows.size !== s.B) throw new Error(`kvGatherRows: rows '${rows.label}' must be a u32 tensor of B = ${s.B} elements`);
  if (new Set([kDst.buffer, vDst.buffer, kSrc.buffer, vSrc.buffer]).size !== 4) throw new Error("kvGatherRows: the four caches must be distinct buffers");
  const n = s.B * s.H * s.T * s.D;
  if (n === 0) return;
  gpu.dispatch(kvRowsKernel, [kDst, vDst, kSrc, vSrc, rows], { n, H: s.H, T: s.T, D: s.D, Td: s.Td, Ts: s.Ts, U: s.U }, grid1d(n, WG));
}
