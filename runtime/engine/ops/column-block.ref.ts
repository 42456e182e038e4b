// Reference for column-block.ts: the same copy as explicit loops.
import type { ColumnBlock } from "./column-block.js";
import type { Arr } from "./ref-types.js";

export function copyColumnBlockRef(dst: Arr, d: ColumnBlock, src: ArrayLike<number>, s: ColumnBlock, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) dst[r * d.stride + d.col0 + j] = src[r * s.stride + s.col0 + j]!;
}
