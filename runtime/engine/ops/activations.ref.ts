// Plain-TypeScript reference for activations.ts: the same formulas in float64, with the same
// limits at +-inf (mulLim), so edge values are defined here and checked against the kernels.
import type { Arr } from "./ref-types.js";
import { erfc64, mulLim, sigmoid2 } from "./wgsl-math.ref.js";

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;
const K0 = Math.sqrt(2 / Math.PI);
const K1 = 0.044715;

export const silu = (x: number): number => mulLim(x, sigmoid2(x)[0]);

export function siluGrad(x: number): number {
  const [s, sc] = sigmoid2(x);
  return mulLim(1 + mulLim(x, sc), s);
}

export const geluErf = (x: number): number => mulLim(x, 0.5 * erfc64(-SQRT1_2 * x));

export const geluErfGrad = (x: number): number =>
  0.5 * erfc64(-SQRT1_2 * x) + mulLim(x, INV_SQRT_2PI * Math.exp(-0.5 * x * x));

/** x * sigmoid(2u) = 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3). */
export const geluTanh = (x: number): number => mulLim(x, sigmoid2(2 * K0 * x * (1 + K1 * x * x))[0]);

export function geluTanhGrad(x: number): number {
  const u2 = 2 * K0 * x * (1 + K1 * x * x);
  const e = Math.exp(-Math.abs(u2));
  const s = sigmoid2(u2)[0];
  return s + mulLim(x * 2 * K0 * (1 + 3 * K1 * x * x), e / ((1 + e) * (1 + e)));
}

export function siluForwardRef(out: Arr /* (n) */, x: Arr /* (n) */): void {
  for (let i = 0; i < out.length; i++) out[i] = silu(x[i]!);
}

export function siluBackwardRef(dx: Arr /* (n) */, dout: Arr /* (n) */, x: Arr /* (n) */): void {
  for (let i = 0; i < dx.length; i++) dx[i] = dout[i]! * siluGrad(x[i]!);
}

export function swigluForwardRef(
  out: Arr, // (N, F)
  gate: Arr, // (N, F)
  up: Arr, // (N, F)
): void {
  for (let i = 0; i < out.length; i++) out[i] = silu(gate[i]!) * up[i]!;
}

export function swigluBackwardRef(
  dgate: Arr, // (N, F)
  dup: Arr, // (N, F)
  dout: Arr, // (N, F)
  gate: Arr, // (N, F)
  up: Arr, // (N, F)
): void {
  for (let i = 0; i < dout.length; i++) {
    dup[i] = dout[i]! * silu(gate[i]!);
    dgate[i] = dout[i]! * up[i]! * siluGrad(gate[i]!);
  }
}

export function geluForwardRef(out: Arr /* (n) */, x: Arr /* (n) */, approximate: "none" | "tanh" = "none"): void {
  const g = approximate === "tanh" ? geluTanh : geluErf;
  for (let i = 0; i < out.length; i++) out[i] = g(x[i]!);
}

export function geluBackwardRef(dx: Arr /* (n) */, dout: Arr /* (n) */, x: Arr /* (n) */, approximate: "none" | "tanh" = "none"): void {
  const g = approximate === "tanh" ? geluTanhGrad : geluErfGrad;
  for (let i = 0; i < dx.length; i++) dx[i] = dout[i]! * g(x[i]!);
}
