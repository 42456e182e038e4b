import { describe, expect, it } from "vitest";
import { GN_CHUNK, clipCoefficient, clipGradNorm, gradNorm, gradNormPartials, scaleGrads } from "../../runtime/engine/ops/gradnorm.js";
import { clipCoefficientRef, gradNormRef, scaleGradsRef } from "../../runtime/engine/ops/gradnorm.ref.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray } from "../helpers/numeric.js";

const EPS32 = 2 ** -24;
// Seven tensors of odd sizes, one of a single element, two spanning several chunks.
const SIZES = [1, 7, 1000, GN_CHUNK + 1, 3 * GN_CHUNK - 5, 65537, 33];
/**
 * Each partial sums up to GN_CHUNK/256 terms per lane, then an 8-level tree; stage 2 folds
 * ~P/256 partials per lane and another tree. Every term is <= 1 after scaling, so the relative
 * error of the sum is below (GN_CHUNK/256 + 8 + P/256 + 8) ulp, and sqrt halves it.
 */
const normRtol = (count: number): number => EPS32 * (GN_CHUNK / 256 + 16 + count / 256);

async function gpuNorm(gpu: Gpu, arrays: Float32Array[]): Promise<number> {
  const norm = gpu.empty([1]);
  gradNorm(gpu, norm, arrays.map((a) => gpu.upload(a)));
  const [v] = await gpu.read(norm);
  return v!;
}

describe("gradient norm", () => {
  it("matches the float64 norm over seven tensors of odd sizes, deterministically", async () => {
    const gpu = await testGpu();
    const arrays = SIZES.map((n, i) => randArray(n, 200 + i, -2, 2));
    const grads = arrays.map((a) => gpu.upload(a));
    const n1 = gpu.empty([1]), n2 = gpu.empty([1]);
    gradNorm(gpu, n1, grads);
    gradNorm(gpu, n2, grads);
    const [a] = await gpu.read(n1);
    const [b] = await gpu.read(n2);
    expect(b).toBe(a); // same bits: fixed partition, fixed trees
    expectClose([a!], [gradNormRef(arrays)], 0, normRtol(gradNormPartials(SIZES)), "norm");
  });

  it("counts every element exactly once (all-ones tensors: the sum of squares is an exact integer)", async () => {
    const gpu = await testGpu();
    const total = SIZES.reduce((a, b) => a + b, 0);
    const got = await gpuNorm(gpu, SIZES.map((n) => new Float32Array(n).fill(-1)));
    // sqrt is good to a few ulp, so got^2 is within ~1e-6 * total of the count; one element more or less moves it by 1.
    expect(Math.abs(got * got - total)).toBeLessThan(Math.max(0.5, 1e-6 * total));
  });

  it("is the single magnitude for a one-element list, 0 for zeros and for no tensors", async () => {
    const gpu = await testGpu();
    expect(await gpuNorm(gpu, [new Float32Array([-3.5])])).toBe(3.5);
    expect(await gpuNorm(gpu, [new Float32Array(5000)])).toBe(0);
    expect(await gpuNorm(gpu, [])).toBe(0);
  });

  it("neither overflows nor underflows where fp32 squares would", async () => {
    const gpu = await testGpu();
    for (const scale of [1e20, 1e30, 1e-25, 1e-40]) {
      const arrays = [randArray(1000, 210, -1, 1), randArray(5000, 211, -1, 1), new Float32Array([0.5])].map((a) => a.map((x) => x * scale));
      const got = await gpuNorm(gpu, arrays);
      if (scale < 1e-38) {
        // Subnormal inputs: WGSL lets a device flush them to zero; otherwise they carry ~1e-5 relative precision.
        if (got !== 0) expectClose([got], [gradNormRef(arrays)], 0, 1e-4, "subnormal norm");
        continue;
      }
      expectClose([got], [gradNormRef(arrays)], 0, normRtol(2), `norm at scale ${scale}`);
    }
    // Mixed magnitudes across tensors: the small tensor vanishes, the result stays exact.
    const big = new Float32Array([3e30, 4e30]);
    const tiny = randArray(77, 212).map((x) => x * 1e-30);
    expectClose([await gpuNorm(gpu, [tiny, big])], [5e30], 0, normRtol(2));
    // A norm beyond fp32 range is inf, as the true value is.
    expect(await gpuNorm(gpu, [new Float32Array([3e38, 3e38])])).toBe(Infinity);
  });

  it("is NaN with any NaN, else inf with any inf (torch's semantics)", async () => {
    const gpu = await testGpu();
    const base = (): Float32Array[] => SIZES.map((n, i) => randArray(n, 220 + i));
    const withNan = base();
    withNan[4]![GN_CHUNK + 3] = NaN;
    expect(Number.isNaN(await gpuNorm(gpu, withNan))).toBe(true);
    const withInf = base();
    withInf[0]![0] = -Infinity;
    withInf[6]![5] = Infinity;
    withInf[6]![6] = Infinity; // two infs in one lane's share: still inf, not NaN
    expect(await gpuNorm(gpu, withInf)).toBe(Infinity);
    const both = base();
    both[2]![1] = Infinity;
    both[5]![65536] = NaN;
    expect(Number.isNaN(await gpuNorm(gpu, both))).toBe(true);
    expect(Number.isNaN(gradNormRef(both))).toBe(true);
    expect(gradNormRef(withInf)).toBe(Infinity);
  });
});

describe("gradient clipping", () => {
  it.each([0.5, 1e6])("clips in place like clip_grad_norm_ (max_norm %f)", async (maxNorm) => {
    const gpu = await testGpu();
    const arrays = SIZES.map((n, i) => randArray(n, 230 + i, -1, 1));
    const grads = arrays.map((a) => gpu.upload(a));
    const { norm, scale } = clipGradNorm(gpu, grads, { maxNorm });
    const [gotNorm] = await gpu.read(norm);
    const [gotScale] = await gpu.read(scale);
    const wantNorm = gradNormRef(arrays);
    expectClose([gotNorm!], [wantNorm], 0, normRtol(gradNormPartials(SIZES)));
    // The coefficient from the GPU's norm, so the check isolates the coefficient kernel.
    const coef = clipCoefficientRef(gotNorm!, maxNorm);
    expectClose([gotScale!], [coef], 0, 2 * EPS32, "coefficient");
    if (maxNorm > wantNorm) expect(gotScale).toBe(1);
    const want = arrays.map((a) => Float32Array.from(a));
    scaleGradsRef(want, gotScale!);
    for (let i = 0; i < grads.length; i++) expectClose(await gpu.read(grads[i]!), want[i]!, 0, 0, `grad ${i}`);
    if (maxNorm < wantNorm) expectClose([gradNormRef(want)], [maxNorm], 0, 1e-5, "clipped norm");
    gpu.release(norm, scale, ...grads);
  });

  it("turns every gradient NaN for a NaN norm; zeroes finite ones (inf -> NaN) for an inf norm", async () => {
    const gpu = await testGpu();
    const nanCase = [new Float32Array([1, NaN, -2]), new Float32Array([4])];
    const g1 = nanCase.map((a) => gpu.upload(a));
    const r1 = clipGradNorm(gpu, g1, { maxNorm: 1 });
    expect(Number.isNaN((await gpu.read(r1.norm))[0])).toBe(true);
    expect(Number.isNaN((await gpu.read(r1.scale))[0])).toBe(true);
    for (const g of g1) for (const v of await gpu.read(g)) expect(Number.isNaN(v)).toBe(true);

    const g2 = [gpu.upload(new Float32Array([1, Infinity, -2])), gpu.upload(new Float32Array([4]))];
    const r2 = clipGradNorm(gpu, g2, { maxNorm: 1 });
    expect((await gpu.read(r2.norm))[0]).toBe(Infinity);
    expect((await gpu.read(r2.scale))[0]).toBe(0);
    const a = await gpu.read(g2[0]!);
    expect([Math.abs(a[0]!), Number.isNaN(a[1]), Math.abs(a[2]!)]).toEqual([0, true, 0]);
    expect(Math.abs((await gpu.read(g2[1]!))[0]!)).toBe(0);
    expect(clipCoefficientRef(NaN, 1)).toBeNaN();
    expect(clipCoefficientRef(Infinity, 1)).toBe(0);
  });

  it("reads the coefficient from the GPU buffer (no readback between norm and scale)", async () => {
    const gpu = await testGpu();
    const arrays = [randArray(4099, 240, -3, 3), randArray(1, 241)];
    const grads = arrays.map((a) => gpu.upload(a));
    const norm = gpu.empty([1]), scale = gpu.empty([1]);
    const readbacks = gpu.stats.readbacks;
    gradNorm(gpu, norm, grads);
    clipCoefficient(gpu, scale, norm, { maxNorm: 2 });
    scaleGrads(gpu, grads, scale);
    const got = await gpu.read(grads[0]!);
    expect(gpu.stats.readbacks).toBe(readbacks + 1);
    const [s] = await gpu.read(scale);
    expect(s).toBeLessThan(1);
    const want = [Float32Array.from(arrays[0]!)];
    scaleGradsRef(want, s!);
    expectClose(got, want[0]!, 0, 0);
  });
});
