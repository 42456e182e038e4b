// Plain-TypeScript reference for residual.ts.
import type { Arr } from "./ref-types.js";

export function residualForwardRef(out: Arr, a: Arr, b: Arr): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
}

export function accumulateRef(acc: Arr, x: Arr): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + x[i]!;
}
