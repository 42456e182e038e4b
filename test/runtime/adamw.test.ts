import { describe, expect, it } from "vitest";
import { adamwStep } from "../../runtime/engine/ops/adamw.js";
import { adamwStepRef } from "../../runtime/engine/ops/adamw.ref.js";
import { clipCoefficient, gradNorm, scaleGrads } from "../../runtime/engine/ops/gradnorm.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray } from "../helpers/numeric.js";

const EPS32 = 2 ** -24;
const HYPER = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

/**
 * Tolerance after T steps. The GPU and the op-by-op fp32 reference differ only where WGSL
 * allows it: division (2.5 ulp), sqrt (inherited from inverseSqrt, a few ulp) and fused
 * multiply-adds, so one step's update lr * m^/(sqrt(v^) + eps) (|.| <= lr * ~3 here) is off by
 * at most ~16 ulp of itself, and p by one more rounding of |p|. m and v do not depend on p, so
 * the errors add over steps: |dp| <= T * (2 ulp(|p|) + 16 ulp(3 lr)).
 */
const paramTol = (T: number, pmax: number, lr: number): number => T * (2 * EPS32 * 2 * pmax + 16 * EPS32 * 3 * lr);

/** The textbook AdamW (Loshchilov & Hutter, as torch documents it), in float64. */
function adamwFloat64(p: Float64Array, m: Float64Array, v: Float64Array, g: ArrayLike<number>, t: number): void {
  const { lr, beta1, beta2, eps, weightDecay } = HYPER;
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! - lr * weightDecay * p[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
    v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
    const mHat = m[i]! / (1 - beta1 ** t), vHat = v[i]! / (1 - beta2 ** t);
    p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

describe("AdamW", () => {
  it.each([1, 13, 1000, 65537 * 4 + 3])("matches the fp32 reference and float64 AdamW over 10 steps, n=%i", async (n) => {
    const gpu = await testGpu();
    const T = 10;
    const p0 = randArray(n, 300 + n, -2, 2);
    const param = gpu.upload(p0), m = gpu.zeros([n]), v = gpu.zeros([n]);
    const rp = Float32Array.from(p0), rm = new Float32Array(n), rv = new Float32Array(n);
    const dp = Float64Array.from(p0), dm = new Float64Array(n), dv = new Float64Array(n);
    for (let t = 1; t <= T; t++) {
      // Gradients of changing scale, with exact zeros mixed in.
      const g = randArray(n, 400 + t, -1, 1).map((x, i) => (i % 11 === 5 ? 0 : x * 10 ** ((t % 5) - 2)));
      const tg = gpu.upload(g);
      adamwStep(gpu, param, m, v, tg, { t, ...HYPER });
      gpu.release(tg);
      adamwStepRef(rp, rm, rv, g, { t, ...HYPER });
      adamwFloat64(dp, dm, dv, g, t);
    }
    const got = await gpu.read(param);
    expectClose(got, rp, paramTol(T, 2, HYPER.lr), 0, "param vs fp32 reference");
    expectClose(await gpu.read(m), rm, 0, T * 4 * EPS32, "m");
    expectClose(await gpu.read(v), rv, 0, T * 4 * EPS32, "v");
    // The float64 rule is what the fp32 one approximates; fp32 rounding of |p| <= 2 over 10 steps.
    expectClose(got, dp, T * 4 * EPS32 * 2 + 1e-6, 0, "param vs float64 AdamW");
  });

  it("takes a step of lr * sign(g) at t = 1 without weight decay (bias correction is exact)", async () => {
    const gpu = await testGpu();
    const g = new Float32Array([3, -0.25, 1e-3, -7e4, 0]);
    const p0 = new Float32Array([1, 1, 1, 1, 1]);
    const param = gpu.upload(p0), m = gpu.zeros([5]), v = gpu.zeros([5]);
    adamwStep(gpu, param, m, v, gpu.upload(g), { t: 1, lr: 0.5, weightDecay: 0 });
    // m^ = g, v^ = g^2: the update is lr * g / (|g| + eps), ~lr * sign(g) unless |g| ~ eps.
    const want = Array.from(g, (x) => 1 - (0.5 * x) / (Math.abs(x) + 1e-8));
    expect(want[2]).toBeCloseTo(0.5, 4);
    expectClose(await gpu.read(param), want, 0, 1e-6, "first step");
  });

  it("decays params by 1 - lr*wd even where the update is 0, and propagates NaN gradients", async () => {
    const gpu = await testGpu();
    const g = new Float32Array([0, NaN, 1e30, -1e30, 2]);
    const p0 = new Float32Array([2, 2, 2, 2, 2]);
    const param = gpu.upload(p0), m = gpu.zeros([5]), v = gpu.zeros([5]);
    const opts = { t: 3, lr: 0.1, weightDecay: 0.5 };
    adamwStep(gpu, param, m, v, gpu.upload(g), opts);
    const rp = Float32Array.from(p0), rm = new Float32Array(5), rv = new Float32Array(5);
    adamwStepRef(rp, rm, rv, g, opts);
    const got = await gpu.read(param);
    expectClose(got, rp, 0, 4 * EPS32);
    const decayed = Math.fround(2 * Math.fround(1 - 0.1 * 0.5));
    expect(got[0]).toBe(decayed); // zero gradient, zero moments: only the decay
    expect(Number.isNaN(got[1])).toBe(true);
    // g^2 overflows: v = inf, m / inf = 0 — torch leaves such a param at its decayed value too.
    expect(got[2]).toBe(decayed);
    expect(got[3]).toBe(decayed);
    expect((await gpu.read(v))[2]).toBe(Infinity);
  });

  it("uses ATen's other lerp form for beta1 < 0.5", async () => {
    const gpu = await testGpu();
    const n = 777;
    const p0 = randArray(n, 310), g = randArray(n, 311, -3, 3);
    const param = gpu.upload(p0), m = gpu.upload(randArray(n, 312)), v = gpu.upload(randArray(n, 313, 0, 1));
    const rp = Float32Array.from(p0), rm = randArray(n, 312), rv = randArray(n, 313, 0, 1);
    const opts = { t: 4, lr: 1e-3, beta1: 0.3, beta2: 0.95, weightDecay: 0 };
    adamwStep(gpu, param, m, v, gpu.upload(g), opts);
    adamwStepRef(rp, rm, rv, g, opts);
    expectClose(await gpu.read(m), rm, 0, 2 * EPS32, "m");
    expectClose(await gpu.read(param), rp, paramTol(1, 1, 1e-3), 0, "param");
  });

  it("fused clip scale equals scaling the gradients first, and the reference", async () => {
    const gpu = await testGpu();
    const sizes = [1, 513, 4099];
    const grads = sizes.map((n, i) => randArray(n, 320 + i, -5, 5));
    const p0 = sizes.map((n, i) => randArray(n, 330 + i));
    const state = () => p0.map((p) => ({ p: gpu.upload(p), m: gpu.zeros([p.length]), v: gpu.zeros([p.length]) }));
    const fused = state(), unfused = state();
    const gF = grads.map((g) => gpu.upload(g)), gU = grads.map((g) => gpu.upload(g));
    const norm = gpu.empty([1]), scale = gpu.empty([1]);
    // Path A: norm -> coefficient -> AdamW reads the coefficient; gradients untouched.
    gradNorm(gpu, norm, gF);
    clipCoefficient(gpu, scale, norm, { maxNorm: 1 });
    fused.forEach((s, i) => adamwStep(gpu, s.p, s.m, s.v, gF[i]!, { t: 1, ...HYPER, gradScale: scale }));
    // Path B: clip the gradients in place, then a plain AdamW step.
    scaleGrads(gpu, gU, scale);
    unfused.forEach((s, i) => adamwStep(gpu, s.p, s.m, s.v, gU[i]!, { t: 1, ...HYPER }));
    const [c] = await gpu.read(scale);
    expect(c).toBeLessThan(0.1); // the gradients really were clipped
    for (let i = 0; i < sizes.length; i++) {
      expectClose(await gpu.read(gF[i]!), grads[i]!, 0, 0, "fused path leaves grads alone");
      const a = await gpu.read(fused[i]!.p);
      // Same fp32 operations; only FMA contraction may differ between the two kernels.
      expectClose(a, await gpu.read(unfused[i]!.p), 0, 2 * EPS32, "fused vs unfused");
      const rp = Float32Array.from(p0[i]!), rm = new Float32Array(sizes[i]!), rv = new Float32Array(sizes[i]!);
      adamwStepRef(rp, rm, rv, grads[i]!, { t: 1, ...HYPER, gradScale: c! });
      expectClose(a, rp, paramTol(1, 1, HYPER.lr), 0, "fused vs reference");
    }
  });

  it("rejects t < 1 and mismatched sizes", async () => {
    const gpu = await testGpu();
    const a = gpu.zeros([4]), b = gpu.zeros([5]);
    expect(() => adamwStep(gpu, a, a, a, a, { t: 0, lr: 1 })).toThrow(/t must be/);
    expect(() => adamwStep(gpu, a, a, a, b, { t: 1, lr: 1 })).toThrow(/grad has 5/);
  });
});
