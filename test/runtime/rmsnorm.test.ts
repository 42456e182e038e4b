import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { type RmsnormSchedule, rmsnormBackward, rmsnormForward } from "../../runtime/engine/ops/rmsnorm.js";
import { rmsnormBackwardRef, rmsnormForwardRef } from "../../runtime/engine/ops/rmsnorm.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

const EPS = 1e-6;

/** Forward then backward on the GPU; everything read back. */
async function runGpu(gpu: Gpu, x: Float32Array, w: Float32Array, dout: Float32Array, N: number, C: number, eps = EPS, schedule?: RmsnormSchedule) {
  const tx = gpu.upload(x, [N, C]), tw = gpu.upload(w, [C]), tdout = gpu.upload(dout, [N, C]);
  const out = gpu.empty([N, C]), rstd = gpu.empty([N]), dx = gpu.empty([N, C]), dw = gpu.empty([C]);
  rmsnormForward(gpu, out, rstd, tx, tw, { N, C, eps, schedule });
  rmsnormBackward(gpu, dx, dw, tdout, tx, tw, rstd, { N, C, schedule });
  const res = { out: await gpu.read(out), rstd: await gpu.read(rstd), dx: await gpu.read(dx), dw: await gpu.read(dw) };
  gpu.release(tx, tw, tdout, out, rstd, dx, dw);
  return res;
}

function runRef(x: Float32Array, w: Float32Array, dout: Float32Array, N: number, C: number, eps = EPS) {
  const out = new Float32Array(N * C), rstd = new Float32Array(N), dx = new Float32Array(N * C), dw = new Float32Array(C);
  rmsnormForwardRef(out, rstd, x, w, N, C, eps);
  rmsnormBackwardRef(dx, dw, dout, x, w, rstd, N, C);
  return { out, rstd, dx, dw };
}

// Both row schedules run on every adapter ("lane" needs C % 4 == 0); each must match the reference.
const SCHEDULES: RmsnormSchedule[] = ["tree", "lane"];

describe("rmsnorm", () => {
  const sizes: [number, number, RmsnormSchedule][] = [];
  for (const N of [1, 37]) for (const C of [1, 3, 257, 1000]) sizes.push([N, C, "tree"]);
  for (const N of [1, 37, 65]) for (const C of [4, 12, 128, 1000]) sizes.push([N, C, "lane"]);

  it.each(sizes)("GPU matches the reference forward and backward for N=%i C=%i (%s)", async (N, C, schedule) => {
    const gpu = await testGpu();
    const x = randArray(N * C, 1, -2, 2), w = randArray(C, 2, 0.5, 1.5), dout = randArray(N * C, 3);
    const got = await runGpu(gpu, x, w, dout, N, C, EPS, schedule);
    const ref = runRef(x, w, dout, N, C);
    expectClose(got.out, ref.out, 1e-5, 1e-4, "out");
    expectClose(got.rstd, ref.rstd, 0, 1e-5, "rstd");
    expectClose(got.dx, ref.dx, 1e-5, 1e-4, "dx");
    expectClose(got.dw, ref.dw, 1e-5, 1e-4, "dweight");
  });

  it.each([[3, 5], [2, 130]])("reference backward matches float64 finite differences (N=%i C=%i)", (N, C) => {
    const x = f64(randArray(N * C, 4, -2, 2)), w = f64(randArray(C, 5, 0.5, 1.5)), dout = f64(randArray(N * C, 6));
    const out = new Float64Array(N * C), rstd = new Float64Array(N);
    const loss = () => {
      rmsnormForwardRef(out, rstd, x, w, N, C, 1e-3);
      return dot(out, dout);
    };
    loss();
    const dx = new Float64Array(N * C), dw = new Float64Array(C);
    rmsnormBackwardRef(dx, dw, dout, x, w, rstd, N, C);
    expectClose(dx, finiteDiff(loss, x), 1e-8, 1e-6, "dx vs FD");
    expectClose(dw, finiteDiff(loss, w), 1e-8, 1e-6, "dweight vs FD");
  });

  it("folds more than 65535 rows into a 2-D grid", async () => {
    const gpu = await testGpu();
    const N = 70001, C = 2; // C = 2: the tree schedule, one workgroup per row
    const x = randArray(N * C, 7), w = randArray(C, 8), dout = randArray(N * C, 9);
    const got = await runGpu(gpu, x, w, dout, N, C);
    const ref = runRef(x, w, dout, N, C);
    expectClose(got.out, ref.out, 1e-5, 1e-4, "out");
    expectClose(got.dx, ref.dx, 1e-5, 1e-4, "dx");
    expectClose(got.dw, ref.dw, 1e-3, 1e-4, "dweight");
  });

  it.each(SCHEDULES)("a row of zeros gives out 0, rstd 1/sqrt(eps) and dx = dout*w/sqrt(eps) (%s)", async (schedule) => {
    const gpu = await testGpu();
    const N = 2, C = 300, eps = 1e-5;
    const x = randArray(N * C, 10);
    x.fill(0, 0, C);
    const w = randArray(C, 11), dout = randArray(N * C, 12);
    const got = await runGpu(gpu, x, w, dout, N, C, eps, schedule);
    const ref = runRef(x, w, dout, N, C, eps);
    expect(got.out.subarray(0, C).every((v) => v === 0)).toBe(true);
    expectClose([got.rstd[0]!], [1 / Math.sqrt(eps)], 0, 1e-5, "rstd");
    expectClose(got.dx, ref.dx, 1e-4, 1e-4, "dx");
    expectClose(got.dx.subarray(0, C), Float32Array.from(w, (wc, c) => (dout[c]! * wc) / Math.sqrt(eps)), 1e-4, 1e-4, "dx zero row");
  });

  it.each(SCHEDULES)("large rows normalise; a row whose sum of squares overflows fp32 gives 0, and an inf gives NaN, as documented (%s)", async (schedule) => {
    const gpu = await testGpu();
    const C = 4, N = 4;
    const x = new Float32Array([
      1e18, -2e18, 3e18, 1e17, // sum of squares 1.4e37: representable, normalises
      3e19, -3e19, 3e19, 3e19, // x^2 = 9e38 > FLT_MAX: sum overflows, rstd = 0
      Infinity, 1, 1, 1, // inf * 0 = NaN
      0.5, -0.25, 1, 2, // an ordinary row, unaffected by its neighbours
    ]);
    const w = new Float32Array([1, 2, 3, 4]), dout = randArray(N * C, 13);
    const got = await runGpu(gpu, x, w, dout, N, C, EPS, schedule);
    const ref = runRef(x, w, dout, N, C);
    expect(got.rstd[1]).toBe(0);
    expect([...got.out.subarray(4, 8)].every((v) => v === 0)).toBe(true);
    expect([...got.dx.subarray(4, 8)].every((v) => v === 0)).toBe(true);
    expect(Number.isNaN(got.out[8])).toBe(true); // inf * 0
    expect([...got.out.subarray(9, 12)]).toEqual([0, 0, 0]); // finite * 0
    expect(got.dx.subarray(8, 12).every(Number.isNaN)).toBe(true); // the row's dot product is NaN
    expectClose(got.out, ref.out, 1e-5, 1e-4, "out");
    expectClose(got.rstd, ref.rstd, 0, 1e-5, "rstd");
    expectClose(got.dx.subarray(0, 4), ref.dx.subarray(0, 4), 1e-5, 1e-4, "dx large row");
    expectClose(got.dx.subarray(12), ref.dx.subarray(12), 1e-5, 1e-4, "dx ordinary row");
  });

  it.each(SCHEDULES)("NaN in a row poisons that row only (and dweight, which sums over rows) (%s)", async (schedule) => {
    const gpu = await testGpu();
    const N = 3, C = 200;
    const x = randArray(N * C, 14);
    x[C + 17] = NaN;
    const w = randArray(C, 15), dout = randArray(N * C, 16);
    const got = await runGpu(gpu, x, w, dout, N, C, EPS, schedule);
    const ref = runRef(x, w, dout, N, C);
    expect(Number.isNaN(got.rstd[1])).toBe(true);
    expect(got.out.subarray(C, 2 * C).every(Number.isNaN)).toBe(true);
    expect(got.dw.every(Number.isNaN)).toBe(true);
    expectClose(got.out, ref.out, 1e-5, 1e-4, "out");
    expectClose(got.dx, ref.dx, 1e-5, 1e-4, "dx");
  });

  it("refuses the lane schedule when rows are not whole vec4s", async () => {
    const gpu = await testGpu();
    const x = gpu.empty([2, 6]), w = gpu.empty([6]), out = gpu.empty([2, 6]), rstd = gpu.empty([2]);
    expect(() => rmsnormForward(gpu, out, rstd, x, w, { N: 2, C: 6, eps: EPS, schedule: "lane" })).toThrow(/multiple of 4, got 6/);
    gpu.release(x, w, out, rstd);
  });

  it("dweight accumulates when asked, and is bitwise reproducible", async () => {
    const gpu = await testGpu();
    const N = 37, C = 257;
    const x = gpu.upload(randArray(N * C, 17)), w = gpu.upload(randArray(C, 18)), dout = gpu.upload(randArray(N * C, 19));
    const out = gpu.empty([N, C]), rstd = gpu.empty([N]), dx = gpu.empty([N, C]);
    const dw = gpu.upload(randArray(C, 20));
    const before = await gpu.read(dw);
    rmsnormForward(gpu, out, rstd, x, w, { N, C, eps: EPS });
    rmsnormBackward(gpu, dx, dw, dout, x, w, rstd, { N, C, accumulate: true });
    const acc = await gpu.read(dw);
    rmsnormBackward(gpu, dx, dw, dout, x, w, rstd, { N, C });
    const once = await gpu.read(dw);
    rmsnormBackward(gpu, dx, dw, dout, x, w, rstd, { N, C });
    expect(await gpu.read(dw)).toEqual(once);
    expectClose(acc, Float32Array.from(once, (v, c) => v + before[c]!), 1e-6, 1e-6, "accumulated");
    gpu.release(x, w, dout, out, rstd, dx, dw);
  });
});
