// Float64 references for wgsl-math.ts, accurate to ~1e-13 relative, so the WGSL helpers and
// the activation kernels can be measured against them (JavaScript has no erf either).

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const SQRT_PI = 1.7724538509055159;

/** a * w, except 0 when w == 0 (even for infinite a): the limit of a decaying product. */
export function mulLim(a: number, w: number): number {
  return w === 0 ? 0 : a * w;
}

/** [sigmoid(x), 1 - sigmoid(x)], each computed without cancellation or overflow. */
export function sigmoid2(x: number): [number, number] {
  const e = Math.exp(-Math.abs(x));
  const a = 1 / (1 + e);
  const b = e / (1 + e);
  return x < 0 ? [b, a] : [a, b];
}

/** erf by its Maclaurin series; used for |x| < 2, where the terms stay below e^4 in size. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x; // (-1)^n x^(2n+1) / n!
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc(x) for x >= 2 by its continued fraction (Laplace), evaluated bottom-up. */
function erfcContinuedFraction(x: number): number {
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / (SQRT_PI * f);
}

export function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 2) return erfSeries(x);
  const r = 1 - erfcContinuedFraction(a);
  return x < 0 ? -r : r;
}

export function erfc64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc64(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x === Infinity) return 0;
  return erfcContinuedFraction(x);
}
