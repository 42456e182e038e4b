// Plain-TypeScript reference for transpose.ts.
import type { Arr } from "./ref-types.js";

export function transposeAccumulateRef(out: Arr, src: ArrayLike<number>, R: number, C: number): void {
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = out[c * R + r]! + src[r * C + c]!;
}
