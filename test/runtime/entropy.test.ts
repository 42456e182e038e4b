import { describe, expect, it } from "vitest";
import { entropyBackward, entropyForward } from "../../runtime/engine/ops/entropy.js";
import { entropyBackwardRef, entropyDirectRef, entropyForwardRef } from "../../runtime/engine/ops/entropy.ref.js";
import { ROW_WG } from "../../runtime/engine/ops/rowstats.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

const EPS32 = 2 ** -24;
/**
 * H = log s - t/s: log s is off by s's relative error, at most (V/ROW_WG + 8) ulp (a lane's
 * sequential sum plus the 7-level tree); t/s has that relative error times |t/s| <= span of x.
 */
const entTol = (V: number, span: number): number => 2 * EPS32 * (V / ROW_WG + 8) * (1 + span);

describe("entropy", () => {
  it.each([
    [1, 1],
    [13, 64],
    [13, 1000],
    [2, 50257],
    [1, 150000],
  ])("forward matches the float64 reference for N=%i V=%i", async (N, V) => {
    const gpu = await testGpu();
    const logits = randArray(N * V, 61 + V, -8, 8);
    const H = gpu.empty([N]), lse = gpu.empty([N]);
    entropyForward(gpu, H, lse, gpu.upload(logits, [N, V]), { N, V });
    const refH = new Float64Array(N), refLse = new Float64Array(N);
    entropyForwardRef(refH, refLse, f64(logits), N, V);
    for (let n = 0; n < N; n++) expect(refH[n]).toBeCloseTo(entropyDirectRef(f64(logits), n, V), 9);
    expectClose(await gpu.read(H), refH, entTol(V, 16), 0, "H");
    expectClose(await gpu.read(lse), refLse, entTol(V, 0) + 8 * EPS32, 0, "lse");
  });

  it("is log V for uniform rows, ~0 for one dominant logit, 0 log 0 = 0, NaN for NaN rows", async () => {
    const gpu = await testGpu();
    const V = 9;
    const NINF = -Infinity;
    const rows: number[][] = [
      [0, 0, 0, 0, 0, 0, 0, 0, 0], // uniform: log 9
      [-1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30], // uniform, huge
      [1e30, 0, 0, 0, 0, 0, 0, 0, -1e30], // one huge logit: exactly 0
      [50, 0, 0, 0, 0, 0, 0, 0, 0], // dominant: 8 e^-50 * 51 ~ 8e-20
      [0, -200, -200, -200, -200, -200, -200, -200, -200], // p underflows to 0 in fp32: 0, no NaN
      [NINF, 1, NINF, 1, NINF, NINF, NINF, NINF, NINF], // two live tokens: log 2
      [NINF, 3, NINF, NINF, NINF, NINF, NINF, NINF, NINF], // one live token: 0
      [0, 1, 2, NaN, 4, 5, 6, 7, 8], // NaN
      [0, 1, 2, Infinity, 4, 5, 6, 7, 8], // +inf
      [NINF, NINF, NINF, NINF, NINF, NINF, NINF, NINF, NINF], // nothing finite
      [3.4e38, -3.4e38, 0, 0, 0, 0, 0, 0, 0], // extremes: 0
    ];
    const N = rows.length;
    const x = new Float32Array(rows.flat());
    const H = gpu.empty([N]);
    entropyForward(gpu, H, null, gpu.upload(x, [N, V]), { N, V });
    const got = await gpu.read(H);
    const ref = new Float64Array(N);
    entropyForwardRef(ref, null, f64(x), N, V);
    expectClose(got, ref, 1e-6, 1e-6, "H edges");
    expect(got[0]).toBeCloseTo(Math.log(9), 6);
    expect(got[1]).toBeCloseTo(Math.log(9), 6);
    expect(got[2]).toBe(0);
    expect(got[3]).toBeGreaterThanOrEqual(0);
    expect(got[3]).toBeLessThan(1e-18);
    expect(got[4]).toBe(0);
    expect(got[5]).toBeCloseTo(Math.log(2), 6);
    expect(got[6]).toBe(0);
    for (const i of [7, 8, 9]) expect(Number.isNaN(got[i]), `row ${i}`).toBe(true);
    expect(got[10]).toBe(0);
  });

  it("is log V for a uniform row of V = 150000", async () => {
    const gpu = await testGpu();
    const V = 150000;
    const H = gpu.empty([1]);
    entropyForward(gpu, H, null, gpu.upload(new Float32Array(V).fill(-3.25)), { N: 1, V });
    const [h] = await gpu.read(H);
    expect(Math.abs(h! - Math.log(V))).toBeLessThan(entTol(V, 0));
  });

  it.each([
    [1, 1],
    [3, 5],
    [4, 37],
  ])("reference backward matches float64 finite differences for N=%i V=%i", (N, V) => {
    const x = f64(randArray(N * V, 71 + V, -3, 3));
    if (N * V > 1) x[1] = -Infinity; // masked: gradient 0
    const dH = f64(randArray(N, 72));
    const H = new Float64Array(N), lse = new Float64Array(N);
    const loss = (): number => {
      entropyForwardRef(H, null, x, N, V);
      return dot(H, dH);
    };
    const fd = finiteDiff(loss, x);
    entropyForwardRef(H, lse, x, N, V);
    const grad = new Float64Array(N * V);
    entropyBackwardRef(grad, dH, x, lse, H, N, V);
    if (N * V > 1) expect(grad[1]).toBe(0);
    expectClose(grad, fd, 1e-8, 1e-6, "dlogits vs FD");
  });

  it.each([
    [1, 1],
    [13, 64],
    [7, 1000],
    [1, 150000],
  ])("GPU backward matches the reference for N=%i V=%i (and accumulates)", async (N, V) => {
    const gpu = await testGpu();
    const logits = randArray(N * V, 81 + V, -6, 6);
    if (N * V > 1) logits[1] = -Infinity;
    const dH = randArray(N, 82);
    const tx = gpu.upload(logits, [N, V]);
    const H = gpu.empty([N]), lse = gpu.empty([N]), dx = gpu.empty([N, V]);
    entropyForward(gpu, H, lse, tx, { N, V });
    entropyBackward(gpu, dx, gpu.upload(dH), tx, lse, H, { N, V });
    const ref = new Float64Array(N * V);
    // The saved lse and H of the GPU for both sides: this isolates the backward kernel.
    entropyBackwardRef(ref, f64(dH), f64(logits), f64(await gpu.read(lse)), f64(await gpu.read(H)), N, V);
    // p's error (exp: a few ulp of p per unit of |log p|) times |log p + H| <= ~30.
    const atol = 64 * EPS32 * 30;
    expectClose(await gpu.read(dx), ref, atol, 16 * EPS32, "dlogits");
    entropyBackward(gpu, dx, gpu.upload(dH), tx, lse, H, { N, V, accumulate: true });
    expectClose(await gpu.read(dx), ref.map((g) => 2 * g), 2 * atol, 16 * EPS32, "accumulated");
  });
});
