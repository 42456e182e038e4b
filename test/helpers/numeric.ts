// Numeric helpers for kernel tests: seeded random data, tolerance comparison, finite differences.
import { expect } from "vitest";
import type { Arr } from "../../runtime/engine/ops/ref-types.js";

/** Mulberry32: small seeded PRNG so every test is repeatable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [lo, hi). */
export function randArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Random integers in [0, hi). */
export function randInts(n: number, seed: number, hi: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hi);
  return out;
}

/**
 * Assert |got - ref| <= atol + rtol * |ref| element-wise. NaN must match NaN and
 * infinities must match exactly. Reports the worst element on failure.
 */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = "values"): void {
  expect(got.length, `${what}: length`).toBe(ref.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) { worst = i; break; }
      continue;
    }
    if (!Number.isFinite(r) || !Number.isFinite(g)) {
      if (g !== r) { worst = i; break; }
      continue;
    }
    const excess = Math.abs(g - r) - (atol + rtol * Math.abs(r));
    if (excess > worstExcess) { worstExcess = excess; worst = i; }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} got ${got[worst]} want ${ref[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/**
 * Central finite differences of a scalar function f at x, in float64.
 * `f` must read x in place; x is restored after each probe.
 */
export function finiteDiff(f: () => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const fp = f();
    x[i] = x0 - h;
    const fm = f();
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** sum(a * b): the scalar loss L = <out, dout> whose gradient backward computes. */
export function dot(a: Arr, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export const f64 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a);
