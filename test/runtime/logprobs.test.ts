import { describe, expect, it } from "vitest";
import { logSoftmaxBackward, logSoftmaxForward, logprobsBackward, logprobsForward } from "../../runtime/engine/ops/logprobs.js";
import { logSoftmaxBackwardRef, logSoftmaxForwardRef, logprobsBackwardRef, logprobsForwardRef } from "../../runtime/engine/ops/logprobs.ref.js";
import { ROW_WG } from "../../runtime/engine/ops/rowstats.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray, randInts } from "../helpers/numeric.js";

const EPS32 = 2 ** -24;
/**
 * Forward tolerance: log s is off by s's relative error, which a lane's sequential sum of
 * V/ROW_WG terms plus a 7-level tree bounds by (V/ROW_WG + 7) ulp; x - m adds an ulp of |x|.
 */
const lseTol = (V: number, xmax: number): number => 2 * EPS32 * (V / ROW_WG + 8) + 2 * EPS32 * xmax;

// Rows that are not ordinary: huge magnitudes, masked tokens, NaN, +inf, all equal, ids out of range.
const EDGE_V = 7;
const NINF = -Infinity;
const EDGE_ROWS: [number[], number][] = [
  [[1e30, 0, -1e30, 5, 1, 2, 3], 0], // one huge logit: logp = 0
  [[1e30, 0, -1e30, 5, 1, 2, 3], 2], // ... and the others are -inf in fp32 terms
  [[-1e30, -1e30, -1e30, -1e30, -1e30, -1e30, -1e30], 3], // all equal and huge: -log 7
  [[2, 2, 2, 2, 2, 2, 2], 6], // all equal
  [[NINF, 0.5, NINF, NINF, -1, NINF, 3], 1], // masked entries
  [[NINF, 0.5, NINF, NINF, -1, NINF, 3], 0], // chosen token masked: -inf
  [[0, 1, NaN, 2, 3, 4, 5], 1], // a NaN poisons the row
  [[0, 1, Infinity, 2, 3, 4, 5], 2], // +inf is no distribution either
  [[NINF, NINF, NINF, NINF, NINF, NINF, NINF], 0], // nothing finite
  [[0, 1, 2, 3, 4, 5, 6], 7], // id out of range
  [[3.4e38, -3.4e38, 0, 1, 2, 3, 4], 1], // range extremes: differences overflow to -inf
];

describe("logprobs (gather of log-softmax)", () => {
  it.each([
    [1, 1],
    [13, 64],
    [13, 1000],
    [2, 50257],
    [1, 150000],
  ])("forward matches the float64 reference for N=%i V=%i", async (N, V) => {
    const gpu = await testGpu();
    const logits = randArray(N * V, 11 + V, -8, 8);
    const ids = randInts(N, 5 + N, V);
    const logp = gpu.empty([N]), lse = gpu.empty([N]);
    logprobsForward(gpu, logp, lse, gpu.upload(logits, [N, V]), gpu.upload(ids), { N, V });
    const refLogp = new Float64Array(N), refLse = new Float64Array(N);
    logprobsForwardRef(refLogp, refLse, f64(logits), ids, N, V);
    const tol = lseTol(V, 8);
    expectClose(await gpu.read(logp), refLogp, tol, 0, "logp");
    expectClose(await gpu.read(lse), refLse, tol, EPS32 * 2, "lse");
  });

  it("handles huge, masked, NaN, +inf, all-equal rows and bad ids as documented", async () => {
    const gpu = await testGpu();
    const N = EDGE_ROWS.length, V = EDGE_V;
    const logits = new Float32Array(EDGE_ROWS.flatMap(([r]) => r));
    const ids = new Uint32Array(EDGE_ROWS.map(([, id]) => id));
    const logp = gpu.empty([N]), lse = gpu.empty([N]);
    logprobsForward(gpu, logp, lse, gpu.upload(logits, [N, V]), gpu.upload(ids), { N, V });
    const got = await gpu.read(logp);
    const ref = new Float64Array(N), refLse = new Float64Array(N);
    logprobsForwardRef(ref, refLse, f64(logits), ids, N, V);
    // Row 10's x_id - m is -6.8e38: finite in the float64 reference, -inf in fp32 (checked below).
    expectClose(got.subarray(0, 10), ref.subarray(0, 10), 1e-6, 1e-6, "logp");
    expectClose(await gpu.read(lse), refLse, 1e-6, 1e-6, "lse");
    // The documented values, independent of the reference:
    expect(got[0]).toBe(0);
    expect(got[1]).toBe(Math.fround(-2e30));
    expect(got[2]).toBeCloseTo(-Math.log(7), 6);
    expect(got[3]).toBeCloseTo(-Math.log(7), 6);
    expect(got[5]).toBe(-Infinity);
    for (const i of [6, 7, 8, 9]) expect(Number.isNaN(got[i]), `row ${i}`).toBe(true);
    expect(got[10]).toBe(-Infinity);
  });

  it("is deterministic (fixed reduction order)", async () => {
    const gpu = await testGpu();
    const N = 5, V = 4099;
    const x = gpu.upload(randArray(N * V, 3, -20, 20)), ids = gpu.upload(randInts(N, 4, V));
    const a = gpu.empty([N]), b = gpu.empty([N]);
    logprobsForward(gpu, a, null, x, ids, { N, V });
    logprobsForward(gpu, b, null, x, ids, { N, V });
    expect(Array.from(await gpu.read(b))).toEqual(Array.from(await gpu.read(a)));
  });

  it.each([
    [1, 1],
    [3, 5],
    [4, 37],
  ])("reference backward matches float64 finite differences for N=%i V=%i", (N, V) => {
    const x = f64(randArray(N * V, 21 + V, -3, 3));
    x[0] = -Infinity; // a masked entry: its gradient is dlogp * onehot only
    if (N * V === 1) x[0] = 0.25;
    const ids = randInts(N, 22, V);
    if (V > 1) ids[0] = 1;
    const dlogp = f64(randArray(N, 23));
    const logp = new Float64Array(N), lse = new Float64Array(N);
    const loss = (): number => {
      logprobsForwardRef(logp, null, x, ids, N, V);
      return dot(logp, dlogp);
    };
    logprobsForwardRef(logp, lse, x, ids, N, V);
    const grad = new Float64Array(N * V);
    logprobsBackwardRef(grad, dlogp, x, ids, lse, N, V);
    const fd = finiteDiff(loss, x);
    if (N * V > 1) expect(grad[0] === 0, "masked entry").toBe(true);
    expectClose(grad, fd, 1e-8, 1e-6, "dlogits vs FD");
  });

  it.each([
    [1, 1],
    [13, 64],
    [7, 1000],
    [1, 150000],
  ])("GPU backward matches the reference for N=%i V=%i (and accumulates)", async (N, V) => {
    const gpu = await testGpu();
    const logits = randArray(N * V, 31 + V, -6, 6);
    logits[0] = -Infinity;
    const ids = randInts(N, 32, V);
    const dlogp = randArray(N, 33);
    const tx = gpu.upload(logits, [N, V]), tids = gpu.upload(ids);
    const logp = gpu.empty([N]), lse = gpu.empty([N]), dx = gpu.empty([N, V]);
    logprobsForward(gpu, logp, lse, tx, tids, { N, V });
    logprobsBackward(gpu, dx, gpu.upload(dlogp), tx, tids, lse, { N, V });
    const gotLse = await gpu.read(lse);
    const ref = new Float64Array(N * V);
    // Same saved lse for both, so the comparison isolates the backward kernel.
    logprobsBackwardRef(ref, f64(dlogp), f64(logits), ids, f64(gotLse), N, V);
    // p = exp(x - lse): exp's few-ulp error relative to p, plus the rounding of x - lse (|x| <= 6 + log V).
    expectClose(await gpu.read(dx), ref, 4 * EPS32 * 20, 8 * EPS32, "dlogits");
    logprobsBackward(gpu, dx, gpu.upload(dlogp), tx, tids, lse, { N, V, accumulate: true });
    const twice = ref.map((g) => 2 * g);
    expectClose(await gpu.read(dx), twice, 8 * EPS32 * 20, 8 * EPS32, "accumulated dlogits");
  });
});

describe("log-softmax (full rows)", () => {
  it.each([
    [1, 1],
    [13, 64],
    [3, 1000],
    [1, 150000],
  ])("forward matches the reference for N=%i V=%i", async (N, V) => {
    const gpu = await testGpu();
    const x = randArray(N * V, 41 + V, -8, 8);
    const out = gpu.empty([N, V]);
    logSoftmaxForward(gpu, out, gpu.upload(x, [N, V]), { N, V });
    const ref = new Float64Array(N * V);
    logSoftmaxForwardRef(ref, f64(x), N, V);
    expectClose(await gpu.read(out), ref, lseTol(V, 8), 0, "log_softmax");
  });

  it("gives NaN rows for NaN/+inf/all -inf and exact values for edge rows", async () => {
    const gpu = await testGpu();
    const N = EDGE_ROWS.length, V = EDGE_V;
    const x = new Float32Array(EDGE_ROWS.flatMap(([r]) => r));
    const out = gpu.empty([N, V]);
    logSoftmaxForward(gpu, out, gpu.upload(x, [N, V]), { N, V });
    const ref = new Float64Array(N * V);
    logSoftmaxForwardRef(ref, f64(x), N, V);
    const got = await gpu.read(out);
    // Row 10 (+-3.4e38) overflows x - m to -inf in fp32 only; checked on its own.
    expectClose(got.subarray(0, 10 * V), ref.subarray(0, 10 * V), 1e-6, 1e-6, "log_softmax edges");
    expect(Array.from(got.subarray(10 * V, 10 * V + 3))).toEqual([0, -Infinity, Math.fround(-3.4e38)]);
    for (const row of [6, 7, 8]) for (let v = 0; v < V; v++) expect(Number.isNaN(got[row * V + v])).toBe(true);
  });

  it("reference backward matches finite differences; GPU backward matches the reference", async () => {
    const N = 4, V = 23;
    const x = f64(randArray(N * V, 51, -4, 4));
    const dout = f64(randArray(N * V, 52));
    const out = new Float64Array(N * V);
    const loss = (): number => {
      logSoftmaxForwardRef(out, x, N, V);
      return dot(out, dout);
    };
    const fd = finiteDiff(loss, x);
    logSoftmaxForwardRef(out, x, N, V);
    const grad = new Float64Array(N * V);
    logSoftmaxBackwardRef(grad, dout, out, N, V);
    expectClose(grad, fd, 1e-8, 1e-6, "ref vs FD");

    const gpu = await testGpu();
    for (const [n, v] of [[N, V], [13, 1000], [1, 1]] as const) {
      const xs = n === N ? Float32Array.from(x) : randArray(n * v, 53 + v, -6, 6);
      const ds = n === N ? Float32Array.from(dout) : randArray(n * v, 54 + v);
      const tout = gpu.empty([n, v]), dx = gpu.empty([n, v]);
      logSoftmaxForward(gpu, tout, gpu.upload(xs), { N: n, V: v });
      logSoftmaxBackward(gpu, dx, gpu.upload(ds), tout, { N: n, V: v });
      const gotOut = await gpu.read(tout);
      const ref = new Float64Array(n * v);
      logSoftmaxBackwardRef(ref, f64(ds), f64(gotOut), n, v);
      // The row sum of dout has an error of (V/ROW_WG + 8) ulp of sum |dout|.
      expectClose(await gpu.read(dx), ref, 2 * EPS32 * (v / ROW_WG + 8) * v, 4 * EPS32, `dx ${n}x${v}`);
    }
  });
});
