// Column-block copy between row-major tables: dst[r, c0d + j] = src[r, c0s + j] for r < rows,
// j < cols. The LM head of a vocabulary larger than one storage binding runs per vocabulary
// range (model/transformer.ts): each range's logits (rows, Vr) are copied into their columns
// of the (rows, V) logits chunk, and each range's columns of dlogits out for its backward.
// Bits are copied as they are (u32 view), so NaN payloads, -0 and infinities pass unchanged.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

const columnBlockKernel: Kernel = {
  name: "column_block_copy",
  bindings: [
    { name: "dst", access: "read_write", type: "u32" },
    { name: "src", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "n", type: "u32" }, // rows * cols
    { name: "cols", type: "u32" },
    { name: "dst_stride", type: "u32" },
    { name: "dst_col0", type: "u32" },
    { name: "src_stride", type: "u32" },
    { name: "src_col0", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  let r = i / u.cols;
  let j = i - r * u.cols;
  dst[r * u.dst_stride + u.dst_col0 + j] = src[r * u.src_stride + u.src_col0 + j];
}`,
};

/** Columns of a row-major table: `stride` elements per row, the block starting at column `col0`. */
export interface ColumnBlock {
  stride: number;
  col0: number;
}

/** dst[r * d.stride + d.col0 + j] = src[r * s.stride + s.col0 + j] for r < rows, j < cols. */
export function copyColumnBlock(gpu: Gpu, dst: Tensor, d: ColumnBlock, src: Tensor, s: ColumnBlock, rows: number, cols: number): void {
  for (const [name, t, b] of [["dst", dst, d], ["src", src, s]] as const) {
    if (!(Number.isInteger(b.stride) && Number.isInteger(b.col0) && b.col0 >= 0 && b.col0 + cols <= b.stride)) {
      throw new Error(`copyColumnBlock: ${name} columns ${b.col0}..${b.col0 + cols} do not fit rows of ${b.stride}`);
    }
    if (rows > 0 && (rows - 1) * b.stride + b.col0 + cols > t.size) throw new Error(`copyColumnBlock: ${name} '${t.label}' has ${t.size} elements, ${rows} rows of stride ${b.stride} need ${(rows - 1) * b.stride + b.col0 + cols}`);
  }
  if (dst.buffer === src.buffer) throw new Error("copyColumnBlock: dst must not alias src");
  const n = rows * cols;
  if (n === 0) return;
  gpu.dispatch(columnBlockKernel, [dst, src], { n, cols, dst_stride: d.stride, dst_col0: d.col0, src_stride: s.stride, src_col0: s.col0 }, grid1d(n, WG));
}
