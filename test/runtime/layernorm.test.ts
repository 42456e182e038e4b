import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { layernormBackward, layernormForward } from "../../runtime/engine/ops/layernorm.js";
import { layernormBackwardRef, layernormForwardRef } from "../../runtime/engine/ops/layernorm.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

const EPS = 1e-5;

interface Inputs {
  x: Float32Array; // (N, C)
  w: Float32Array; // (C)
  b: Float32Array; // (C)
  dout: Float32Array; // (N, C)
}

function inputs(N: number, C: number, seed: number): Inputs {
  return {
    x: randArray(N * C, seed, -2, 3),
    w: randArray(C, seed + 1, 0.5, 1.5),
    b: randArray(C, seed + 2),
    dout: randArray(N * C, seed + 3),
  };
}

/** Forward then backward on the GPU; everything read back. */
async function runGpu(gpu: Gpu, { x, w, b, dout }: Inputs, N: number, C: number, eps = EPS): Promise<Result> {
  const tx = gpu.upload(x, [N, C]), tw = gpu.upload(w), tb = gpu.upload(b), tdout = gpu.upload(dout, [N, C]);
  const out = gpu.empty([N, C]), mean = gpu.empty([N]), rstd = gpu.empty([N]);
  const dx = gpu.empty([N, C]), dw = gpu.empty([C]), db = gpu.empty([C]);
  layernormForward(gpu, out, mean, rstd, tx, tw, tb, { N, C, eps });
  layernormBackward(gpu, dx, dw, db, tdout, tx, tw, mean, rstd, { N, C });
  const res = {
    out: await gpu.read(out), mean: await gpu.read(mean), rstd: await gpu.read(rstd),
    dx: await gpu.read(dx), dw: await gpu.read(dw), db: await gpu.read(db),
  };
  gpu.release(tx, tw, tb, tdout, out, mean, rstd, dx, dw, db);
  return res;
}

function runRef({ x, w, b, dout }: Inputs, N: number, C: number, eps = EPS): Result {
  const out = new Float32Array(N * C), mean = new Float32Array(N), rstd = new Float32Array(N);
  const dx = new Float32Array(N * C), dw = new Float32Array(C), db = new Float32Array(C);
  layernormForwardRef(out, mean, rstd, x, w, b, N, C, eps);
  layernormBackwardRef(dx, dw, db, dout, x, w, mean, rstd, N, C);
  return { out, mean, rstd, dx, dw, db };
}

interface Result {
  out: Float32Array; // (N, C)
  mean: Float32Array; // (N)
  rstd: Float32Array; // (N)
  dx: Float32Array; // (N, C)
  dw: Float32Array; // (C)
  db: Float32Array; // (C)
}

function expectAllClose(got: Result, ref: Result, atol = 1e-5): void {
  expectClose(got.out, ref.out, atol, 1e-4, "out");
  expectClose(got.mean, ref.mean, atol, 1e-5, "mean");
  expectClose(got.rstd, ref.rstd, 0, 1e-4, "rstd");
  // dx is a difference of terms of size rstd*|dout*w| that cancel (a row of dx sums to 0), so its
  // rounding error scales with the largest dx, not with each element: e.g. (-21.96, 0.3994, 21.56).
  const dxScale = ref.dx.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  expectClose(got.dx, ref.dx, atol * dxScale, 1e-4, "dx");
  expectClose(got.dw, ref.dw, atol, 1e-4, "dweight");
  expectClose(got.db, ref.db, atol, 1e-4, "dbias");
}

describe("layernorm", () => {
  const sizes: [number, number][] = [];
  for (const N of [1, 37]) for (const C of [1, 3, 257, 1000]) sizes.push([N, C]);

  it.each(sizes)("GPU matches the reference forward and backward for N=%i C=%i", async (N, C) => {
    const gpu = await testGpu();
    const data = inputs(N, C, N * 7 + C);
    expectAllClose(await runGpu(gpu, data, N, C), runRef(data, N, C));
  });

  it.each([[3, 5], [2, 130]])("reference backward matches float64 finite differences (N=%i C=%i)", (N, C) => {
    const d = inputs(N, C, 40);
    const x = f64(d.x), w = f64(d.w), b = f64(d.b), dout = f64(d.dout);
    const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
    const loss = () => {
      layernormForwardRef(out, mean, rstd, x, w, b, N, C, 1e-3);
      return dot(out, dout);
    };
    loss();
    const dx = new Float64Array(N * C), dw = new Float64Array(C), db = new Float64Array(C);
    layernormBackwardRef(dx, dw, db, dout, x, w, mean, rstd, N, C);
    expectClose(dx, finiteDiff(loss, x), 1e-8, 1e-6, "dx vs FD");
    expectClose(dw, finiteDiff(loss, w), 1e-8, 1e-6, "dweight vs FD");
    expectClose(db, finiteDiff(loss, b), 1e-8, 1e-6, "dbias vs FD");
  });

  it("folds more than 65535 rows into a 2-D grid", async () => {
    const gpu = await testGpu();
    const N = 70001, C = 2;
    const data = inputs(N, C, 50);
    expectAllClose(await runGpu(gpu, data, N, C), runRef(data, N, C), 1e-3);
  });

  it("a row of zeros gives exactly bias; a constant row nearly so", async () => {
    const gpu = await testGpu();
    const N = 3, C = 300;
    const data = inputs(N, C, 60);
    data.x.fill(0, 0, C);
    data.x.fill(5, C, 2 * C);
    const got = await runGpu(gpu, data, N, C);
    const ref = runRef(data, N, C);
    expect(got.out.subarray(0, C)).toEqual(data.b);
    expect(got.mean[0]).toBe(0);
    expectClose([got.rstd[0]!], [1 / Math.sqrt(EPS)], 0, 1e-5, "rstd of zero row");
    // The fp32 mean of a constant row carries rounding, which rstd = 1/sqrt(eps) amplifies.
    expectAllClose(got, ref, 2e-3);
  });

  it("large rows normalise, a variance that overflows fp32 gives bias, a mean near FLT_MAX does not overflow, inf gives NaN", async () => {
    const gpu = await testGpu();
    const N = 5, C = 4;
    const data = inputs(N, C, 70);
    data.x.set([
      1e18, -2e18, 3e18, 1e17, // squared deviations ~1e37: representable, normalises
      3e19, -3e19, 3e19, -3e19, // squared deviations 9e38 > FLT_MAX: rstd = 0, out = bias
      3e38, 3e38, 3e38, 3e38, // sum(x) would overflow; sum(x / C) does not: mean 3e38, out = bias
      Infinity, 1, 1, 1, // mean inf, whole row NaN
      0.5, -0.25, 1, 2, // an ordinary row
    ]);
    const got = await runGpu(gpu, data, N, C);
    const ref = runRef(data, N, C);
    expect(got.rstd[1]).toBe(0);
    expect(got.out.subarray(4, 8)).toEqual(data.b);
    expect(got.dx.subarray(4, 8).every((v) => v === 0)).toBe(true); // +-0: rstd * (negative) may be -0
    expectClose([got.mean[2]!], [3e38], 0, 1e-6, "mean near FLT_MAX");
    expect(got.out.subarray(8, 12)).toEqual(data.b);
    expect(got.out.subarray(12, 16).every(Number.isNaN)).toBe(true);
    expect(got.dx.subarray(12, 16).every(Number.isNaN)).toBe(true);
    expectClose(got.out, ref.out, 1e-5, 1e-4, "out");
    expectClose(got.rstd, ref.rstd, 0, 1e-4, "rstd");
    expectClose(got.dx.subarray(0, 4), ref.dx.subarray(0, 4), 1e-5, 1e-4, "dx large row");
    expectClose(got.dx.subarray(16), ref.dx.subarray(16), 1e-5, 1e-4, "dx ordinary row");
    expect(got.dw.every(Number.isNaN)).toBe(true); // the inf row's xhat is NaN
    expectClose(got.db, ref.db, 1e-5, 1e-4, "dbias"); // dbias does not read x
  });

  it("dweight and dbias accumulate when asked, and are bitwise reproducible", async () => {
    const gpu = await testGpu();
    const N = 37, C = 257;
    const d = inputs(N, C, 80);
    const x = gpu.upload(d.x), w = gpu.upload(d.w), b = gpu.upload(d.b), dout = gpu.upload(d.dout);
    const out = gpu.empty([N, C]), mean = gpu.empty([N]), rstd = gpu.empty([N]), dx = gpu.empty([N, C]);
    const dw0 = randArray(C, 81), db0 = randArray(C, 82);
    const dw = gpu.upload(dw0), db = gpu.upload(db0);
    layernormForward(gpu, out, mean, rstd, x, w, b, { N, C, eps: EPS });
    layernormBackward(gpu, dx, dw, db, dout, x, w, mean, rstd, { N, C, accumulate: true });
    const accW = await gpu.read(dw), accB = await gpu.read(db);
    layernormBackward(gpu, dx, dw, db, dout, x, w, mean, rstd, { N, C });
    const onceW = await gpu.read(dw), onceB = await gpu.read(db);
    layernormBackward(gpu, dx, dw, db, dout, x, w, mean, rstd, { N, C });
    expect(await gpu.read(dw)).toEqual(onceW);
    expect(await gpu.read(db)).toEqual(onceB);
    expectClose(accW, Float32Array.from(onceW, (v, c) => v + dw0[c]!), 1e-6, 1e-6, "accumulated dweight");
    expectClose(accB, Float32Array.from(onceB, (v, c) => v + db0[c]!), 1e-6, 1e-6, "accumulated dbias");
    gpu.release(x, w, b, dout, out, mean, rstd, dx, dw, db);
  });
});
