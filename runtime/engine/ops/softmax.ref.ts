// Plain-TypeScript reference for softmax.ts, with the same edge behaviour:
// all -inf row -> zeros; +inf entries share the mass equally; any NaN -> NaN row.
import type { Arr } from "./ref-types.js";

export function softmaxForwardRef(y: Arr, x: Arr, N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let m = -Infinity;
    let nan = false;
    for (let c = 0; c < C; c++) {
      const v = x[o + c]!;
      if (Number.isNaN(v)) nan = true;
      else if (v > m) m = v;
    }
    if (nan) {
      for (let c = 0; c < C; c++) y[o + c] = NaN;
      continue;
    }
    if (m === -Infinity) {
      for (let c = 0; c < C; c++) y[o + c] = 0;
      continue;
    }
    let s = 0;
    for (let c = 0; c < C; c++) {
      const v = x[o + c]!;
      // v === m covers +inf entries, whose limit weight is 1 each (exp(inf - inf) is NaN).
      const e = v === m ? 1 : Math.exp(v - m);
      y[o + c] = e;
      s += e;
    }
    for (let c = 0; c < C; c++) y[o + c] = y[o + c]! / s;
  }
}

export function softmaxBackwardRef(dx: Arr, dy: Arr, y: Arr, N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[o + c]! * y[o + c]!;
    for (let c = 0; c < C; c++) dx[o + c] = y[o + c]! * (dy[o + c]! - dot);
  }
}
