// Plain-TypeScript reference for embedding.ts, with the same out-of-range policy: ids >= V
// read as a zero row and receive no gradient. Backward adds in token order in the precision
// of dtable's array, so with Float32Array it matches the GPU bit for bit.
import type { Arr } from "./ref-types.js";

export function embeddingForwardRef(
  out: Arr, // (N, C)
  table: Arr, // (V, C)
  ids: ArrayLike<number>, // (N)
  N: number,
  C: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    for (let c = 0; c < C; c++) out[n * C + c] = id < V ? table[id * C + c]! : 0;
  }
}

export function embeddingBackwardRef(
  dtable: Arr, // (V, C)
  dout: Arr, // (N, C)
  ids: ArrayLike<number>, // (N)
  N: number,
  C: number,
  V: number,
  accumulate = false,
): void {
  if (!accumulate) dtable.fill(0);
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    if (id >= V) continue;
    for (let c = 0; c < C; c++) dtable[id * C + c] = dtable[id * C + c]! + dout[n * C + c]!;
  }
}
