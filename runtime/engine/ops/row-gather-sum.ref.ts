// Plain-TypeScript reference for row-gather-sum.ts. With a Float32Array dst it rounds every
// partial sum to f32 as the kernel does (same order), so the two agree bit for bit.
import type { RowGatherSumSizes } from "./row-gather-sum.js";
import type { Arr } from "./ref-types.js";

/** dst[i, :] = sum over k in [offsets[i], offsets[i+1]) of src[idx[k], :], in k order. */
export function rowGatherSumRef(dst: Arr, src: ArrayLike<number>, offsets: ArrayLike<number>, idx: ArrayLike<number>, s: RowGatherSumSizes): void {
  const round = dst instanceof Float32Array ? Math.fround : (x: number) => x;
  for (let n = 0; n < s.N; n++) {
    for (let c = 0; c < s.C; c++) {
      let acc = 0;
      for (let k = offsets[n]!; k < offsets[n + 1]!; k++) acc = round(acc + src[idx[k]! * s.C + c]!);
      dst[n * s.C + c] = acc;
    }
  }
}
