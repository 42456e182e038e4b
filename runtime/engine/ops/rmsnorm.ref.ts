// Plain-TypeScript reference for rmsnorm.ts. Sums run in float64; the sum of squares is then
// rounded to the precision of `x`'s array, so with Float32Array inputs it overflows to inf
// exactly where the GPU's fp32 sum does (rstd = 0), and with Float64Array it does not.
import type { Arr } from "./ref-types.js";

const precisionOf = (a: Arr): ((v: number) => number) => (a instanceof Float32Array ? Math.fround : (v) => v);

export function rmsnormForwardRef(
  out: Arr, // (N, C)
  rstd: Arr, // (N)
  x: Arr, // (N, C)
  weight: Arr, // (C)
  N: number,
  C: number,
  eps: number,
): void {
  const round = precisionOf(x);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c]! * x[n * C + c]!;
    const r = 1 / Math.sqrt(round(ss) / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[n * C + c] = x[n * C + c]! * r * weight[c]!;
  }
}

export function rmsnormBackwardRef(
  dx: Arr, // (N, C)
  dweight: Arr, // (C)
  dout: Arr, // (N, C)
  x: Arr, // (N, C)
  weight: Arr, // (C)
  rstd: Arr, // (N)
  N: number,
  C: number,
  accumulate = false,
): void {
  if (!accumulate) dweight.fill(0);
  for (let n = 0; n < N; n++) {
    const r = rstd[n]!;
    let d = 0;
    for (let c = 0; c < C; c++) d += dout[n * C + c]! * weight[c]! * (x[n * C + c]! * r);
    const m = d / C;
    for (let c = 0; c < C; c++) {
      const xhat = x[n * C + c]! * r;
      dx[n * C + c] = r * (dout[n * C + c]! * weight[c]! - xhat * m);
      dweight[c] = dweight[c]! + dout[n * C + c]! * xhat;
    }
  }
}
