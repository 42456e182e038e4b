// Plain-TypeScript reference for strided-copy.ts.
import type { Arr } from "./ref-types.js";
import type { Stride } from "./strided-copy.js";

export function stridedCopyRef(out: Arr, o: Stride, src: ArrayLike<number>, s: Stride, n: number): void {
  for (let i = 0; i < n; i++) out[i * o.stride + o.offset] = src[i * s.stride + s.offset]!;
}
