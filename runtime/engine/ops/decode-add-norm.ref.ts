// Plain-TypeScript reference for decode-add-norm.ts: x += t, then HF LlamaRMSNorm.
import type { Arr } from "./ref-types.js";

export function decodeAddRmsnormRef(x: Arr /* (N, C) */, out: Arr /* (N, C) */, rstd: Arr /* (N) */, t: Arr /* (N, C) */, weight: Arr /* (C) */, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) {
      x[n * C + c] = x[n * C + c]! + t[n * C + c]!;
      ss += x[n * C + c]! * x[n * C + c]!;
    }
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[n * C + c] = x[n * C + c]! * r * weight[c]!;
  }
}
