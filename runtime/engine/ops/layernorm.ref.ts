// Plain-TypeScript reference for layernorm.ts. Sums run in float64; the sum of squared
// deviations is then rounded to the precision of `x`'s array, so with Float32Array inputs it
// overflows to inf exactly where the GPU's fp32 sum does (rstd = 0), with Float64Array not.
import type { Arr } from "./ref-types.js";

const precisionOf = (a: Arr): ((v: number) => number) => (a instanceof Float32Array ? Math.fround : (v) => v);

export function layernormForwardRef(
  out: Arr, // (N, C)
  mean: Arr, // (N)
  rstd: Arr, // (N)
  x: Arr, // (N, C)
  weight: Arr, // (C)
  bias: Arr, // (C)
  N: number,
  C: number,
  eps: number,
): void {
  const round = precisionOf(x);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[n * C + c]!;
    const mu = s / C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += (x[n * C + c]! - mu) ** 2;
    const r = 1 / Math.sqrt(round(ss) / C + eps);
    mean[n] = mu;
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[n * C + c] = (x[n * C + c]! - mu) * r * weight[c]! + bias[c]!;
  }
}

export function layernormBackwardRef(
  dx: Arr, // (N, C)
  dweight: Arr, // (C)
  dbias: Arr, // (C)
  dout: Arr, // (N, C)
  x: Arr, // (N, C)
  weight: Arr, // (C)
  mean: Arr, // (N)
  rstd: Arr, // (N)
  N: number,
  C: number,
  accumulate = false,
): void {
  if (!accumulate) {
    dweight.fill(0);
    dbias.fill(0);
  }
  for (let n = 0; n < N; n++) {
    const mu = mean[n]!, r = rstd[n]!;
    let sg = 0, sgx = 0;
    for (let c = 0; c < C; c++) {
      const g = dout[n * C + c]! * weight[c]!;
      sg += g;
      sgx += g * (x[n * C + c]! - mu) * r;
    }
    for (let c = 0; c < C; c++) {
      const xhat = (x[n * C + c]! - mu) * r;
      dx[n * C + c] = r * (dout[n * C + c]! * weight[c]! - sg / C - xhat * (sgx / C));
      dweight[c] = dweight[c]! + dout[n * C + c]! * xhat;
      dbias[c] = dbias[c]! + dout[n * C + c]!;
    }
  }
}
