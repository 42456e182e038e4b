// Plain-TypeScript reference for kv-rows.ts (one tensor; the kernel does keys and values alike).
import type { KvRowsSizes } from "./kv-rows.js";
import type { Arr } from "./ref-types.js";

/** dst[b, h, t, :] = src[rows[b], h, t, :] for t < T; rows[b] >= U leaves row b untouched. */
export function kvGatherRowsRef(dst: Arr, src: ArrayLike<number>, rows: ArrayLike<number>, s: KvRowsSizes): void {
  for (let b = 0; b < s.B; b++) {
    const r = rows[b]!;
    if (r >= s.U) continue;
    for (let h = 0; h < s.H; h++) {
      for (let t = 0; t < s.T; t++) {
        for (let d = 0; d < s.D; d++) dst[((b * s.H + h) * s.Td + t) * s.D + d] = src[((r * s.H + h) * s.Ts + t) * s.D + d]!;
      }
    }
  }
}
