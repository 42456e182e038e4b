import { describe, expect, it } from "vitest";
import { softmaxBackward, softmaxForward } from "../../runtime/engine/ops/softmax.js";
import { softmaxBackwardRef, softmaxForwardRef } from "../../runtime/engine/ops/softmax.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

async function forward(x: Float32Array, N: number, C: number): Promise<Float32Array> {
  const gpu = await testGpu();
  const tx = gpu.upload(x, [N, C], "x");
  const ty = gpu.empty([N, C], "y");
  softmaxForward(gpu, ty, tx, { N, C });
  const got = await gpu.read(ty);
  gpu.release(tx, ty);
  return got;
}

function forwardRef(x: Float32Array, N: number, C: number): Float64Array {
  const y = new Float64Array(N * C);
  softmaxForwardRef(y, f64(x), N, C);
  return y;
}

describe("softmax forward", () => {
  it.each([
    [1, 1],
    [5, 1],
    [3, 7],
    [17, 129],
    [2, 1000],
    [3, 50_000],
  ])("matches the reference for N=%i C=%i", async (N, C) => {
    const x = randArray(N * C, N * 1000 + C, -8, 8);
    const got = await forward(x, N, C);
    expectClose(got, forwardRef(x, N, C), 1e-7, 2e-5);
    // Rows sum to one.
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += got[n * C + c]!;
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }
  });

  it("folds more than 65535 rows into a 2-D grid", async () => {
    const N = 65_600, C = 3;
    const x = randArray(N * C, 11, -4, 4);
    expectClose(await forward(x, N, C), forwardRef(x, N, C), 1e-7, 2e-5);
  });

  it("is stable for large logits (no overflow of exp)", async () => {
    const C = 6;
    const x = new Float32Array([
      1e30, 1e30 - 1e24, -1e30, 0, 3.4e38, 3.4e38, // huge: the two 3.4e38 share the mass
      1000, 999, 998, 0, -1000, 90, // exp(1000) overflows without the max subtraction
      -3.4e38, -3.4e38, -3.4e38, -3.4e38, -3.4e38, -3.4e38, // all equal and most negative finite
      -1e30, -1e30, -1e30 - 1e25, -1e30 - 2e25, -1e30, -1e30, // very negative, distinct
    ]);
    const N = x.length / C;
    const got = await forward(x, N, C);
    expectClose(got, forwardRef(x, N, C), 1e-7, 2e-5);
    expect(got[4]).toBeCloseTo(0.5, 6);
    expect(got[6]).toBeCloseTo(1 / (1 + Math.exp(-1) + Math.exp(-2)), 6);
    for (let c = 0; c < C; c++) expect(got[2 * C + c]).toBeCloseTo(1 / 6, 6);
  });

  it("gives zeros for fully masked rows, excludes -inf entries, shares mass among +inf, propagates NaN", async () => {
    const C = 5;
    const I = Infinity;
    const x = new Float32Array([
      -I, -I, -I, -I, -I, // fully masked -> zeros
      -I, 0, -I, 0, -I, // masked entries get 0, the rest share
      I, 0, 1, I, -I, // two +inf -> 0.5 each
      I, 5, 1e30, -I, 0, // one +inf -> 1
      0, NaN, 1, 2, 3, // NaN -> NaN row
      -I, -I, NaN, -I, -I, // NaN among -inf -> NaN row, not zeros
      I, NaN, I, 0, 0, // NaN among +inf -> NaN row
      1, 2, 3, 4, 5, // an ordinary row next to the odd ones is untouched
    ]);
    const N = x.length / C;
    const got = await forward(x, N, C);
    const ref = forwardRef(x, N, C);
    expect(Array.from(ref.subarray(0, 20))).toEqual([0, 0, 0, 0, 0, 0, 0.5, 0, 0.5, 0, 0.5, 0, 0, 0.5, 0, 1, 0, 0, 0, 0]);
    expectClose(got, ref, 1e-7, 2e-5);
    for (const i of [20, 21, 22, 23, 24, 25, 29, 30, 34]) expect(Number.isNaN(got[i])).toBe(true);
    expect(got.subarray(35).every((v) => Number.isFinite(v) && v > 0)).toBe(true);
  });

  it("handles underflow: entries far below the max get exactly zero", async () => {
    const x = new Float32Array([0, -200, -1e4, -88, -104]);
    const got = await forward(x, 1, 5);
    expect(got[2]).toBe(0);
    expectClose(got, forwardRef(x, 1, 5), 1e-30, 2e-5);
  });
});

describe("softmax backward", () => {
  it("reference backward matches float64 finite differences", () => {
    const N = 3, C = 7;
    const x = f64(randArray(N * C, 21, -3, 3));
    const dy = f64(randArray(N * C, 22));
    const y = new Float64Array(N * C);
    const loss = (): number => {
      softmaxForwardRef(y, x, N, C);
      return dot(y, dy);
    };
    const fd = finiteDiff(loss, x, 1e-6);
    softmaxForwardRef(y, x, N, C);
    const dx = new Float64Array(N * C);
    softmaxBackwardRef(dx, dy, y, N, C);
    expectClose(dx, fd, 1e-8, 1e-6);
  });

  it.each([
    [1, 1],
    [4, 7],
    [9, 257],
    [2, 50_000],
  ])("GPU matches the reference for N=%i C=%i", async (N, C) => {
    const gpu = await testGpu();
    const x = randArray(N * C, 31 + C, -5, 5);
    const dy = randArray(N * C, 32 + C);
    const y = new Float32Array(N * C);
    softmaxForwardRef(y, x, N, C);
    const ty = gpu.upload(y, [N, C], "y"), tdy = gpu.upload(dy, [N, C], "dy"), tdx = gpu.empty([N, C], "dx");
    softmaxBackward(gpu, tdx, tdy, ty, { N, C });
    const ref = new Float64Array(N * C);
    softmaxBackwardRef(ref, f64(dy), f64(y), N, C);
    expectClose(await gpu.read(tdx), ref, 1e-6, 1e-4);
    if (C === 1) expect(Array.from(await gpu.read(tdx)).every((v) => v === 0)).toBe(true);
    gpu.release(ty, tdy, tdx);
  });

  it("gives zero gradient for fully masked rows and propagates NaN", async () => {
    const gpu = await testGpu();
    const C = 4;
    const x = new Float32Array([-Infinity, -Infinity, -Infinity, -Infinity, 0, 1, NaN, 2, 0, 1, 2, 3]);
    const N = 3;
    const tx = gpu.upload(x, [N, C], "x"), ty = gpu.empty([N, C], "y");
    const dy = randArray(N * C, 41);
    const tdy = gpu.upload(dy, [N, C], "dy"), tdx = gpu.empty([N, C], "dx");
    softmaxForward(gpu, ty, tx, { N, C });
    softmaxBackward(gpu, tdx, tdy, ty, { N, C });
    const dx = await gpu.read(tdx);
    expect(Array.from(dx.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(Array.from(dx.subarray(4, 8)).every(Number.isNaN)).toBe(true);
    expect(dx.subarray(8).every(Number.isFinite)).toBe(true);
    gpu.release(tx, ty, tdy, tdx);
  });
});
