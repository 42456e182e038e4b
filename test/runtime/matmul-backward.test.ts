// Gradients built from matmul: linear layers (shared weight, bias, accumulation), sumRows,
// and the general batched product in all four layouts. Each reference backward is checked
// against float64 central finite differences of the reference forward, then each GPU
// backward against its reference.
import { describe, expect, it } from "vitest";
import { linearBackward, linearForward, matmul, matmulBackward, sumRows } from "../../runtime/engine/ops/matmul.js";
import { linearBackwardRef, linearForwardRef, matmulBackwardRef, matmulRef, sumRowsRef } from "../../runtime/engine/ops/matmul.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

describe("linear layer", () => {
  const [N, C, OC] = [6, 7, 5];

  it("reference backward matches finite differences", () => {
    const x = f64(randArray(N * C, 1)), w = f64(randArray(OC * C, 2)), bias = f64(randArray(OC, 3)), dout = f64(randArray(N * OC, 4));
    const out = new Float64Array(N * OC);
    const loss = (): number => (linearForwardRef(out, x, w, bias, N, C, OC), dot(out, dout));
    const dx = new Float64Array(N * C), dw = new Float64Array(OC * C), db = new Float64Array(OC);
    linearBackwardRef(dx, dw, db, dout, x, w, N, C, OC);
    expectClose(dx, finiteDiff(loss, x), 1e-8, 1e-6, "dx");
    expectClose(dw, finiteDiff(loss, w), 1e-8, 1e-6, "dweight");
    expectClose(db, finiteDiff(loss, bias), 1e-8, 1e-6, "dbias");
  });

  it("GPU forward and backward match the reference, accumulating parameter gradients", async () => {
    const gpu = await testGpu();
    const [n, c, oc] = [37, 45, 29]; // irregular, above one register block
    const x = randArray(n * c, 5), w = randArray(oc * c, 6), bias = randArray(oc, 7), dout = randArray(n * oc, 8);
    const tx = gpu.upload(x), tw = gpu.upload(w), tb = gpu.upload(bias), tdout = gpu.upload(dout);
    const out = gpu.empty([n, oc]);
    linearForward(gpu, out, tx, tw, tb, { N: n, C: c, OC: oc });
    const refOut = new Float32Array(n * oc);
    linearForwardRef(refOut, x, w, bias, n, c, oc);
    expectClose(await gpu.read(out), refOut, 1e-5, 1e-5, "out");

    const dw0 = randArray(oc * c, 9), db0 = randArray(oc, 10);
    const dx = gpu.upload(new Float32Array(n * c).fill(NaN)), dw = gpu.upload(dw0), db = gpu.upload(db0);
    linearBackward(gpu, dx, dw, db, tdout, tx, tw, { N: n, C: c, OC: oc, accumulate: true });
    const rdx = new Float32Array(n * c), rdw = Float32Array.from(dw0), rdb = Float32Array.from(db0);
    linearBackwardRef(rdx, rdw, rdb, dout, x, w, n, c, oc, true);
    expectClose(await gpu.read(dx), rdx, 1e-5, 1e-5, "dx");
    expectClose(await gpu.read(dw), rdw, 1e-5, 1e-5, "dweight (accumulated)");
    expectClose(await gpu.read(db), rdb, 1e-5, 1e-5, "dbias (accumulated)");

    // Overwrite mode ignores what was in the gradient buffers, NaN included.
    gpu.write(dw, new Float32Array(oc * c).fill(NaN));
    linearBackward(gpu, null, dw, null, tdout, tx, tw, { N: n, C: c, OC: oc });
    linearBackwardRef(null, rdw, null, dout, x, w, n, c, oc);
    expectClose(await gpu.read(dw), rdw, 1e-5, 1e-5, "dweight (overwritten)");
    gpu.release(tx, tw, tb, tdout, out, dx, dw, db);
  });
});

describe("sumRows", () => {
  it.each([[1, 1], [3, 70], [257, 13]])("matches the reference for %ix%i, with inf and NaN columns", async (M, N) => {
    const gpu = await testGpu();
    const x = randArray(M * N, M + N);
    if (N > 2) { x[0 * N + 1] = Infinity; x[(M - 1) * N + 2] = NaN; }
    const prev = randArray(N, 99);
    const out = gpu.upload(prev);
    sumRows(gpu, out, gpu.upload(x), { M, N, accumulate: true });
    const ref = Float32Array.from(prev);
    sumRowsRef(ref, x, M, N, true);
    const got = await gpu.read(out);
    expectClose(got, ref, 1e-5 * M, 1e-5);
    if (N > 2) { expect(got[1]).toBe(Infinity); expect(Number.isNaN(got[2])).toBe(true); }
  });
});

describe("matmulBackward", () => {
  const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;

  it.each(LAYOUTS)("reference matches finite differences (transA %s, transB %s)", (transA, transB) => {
    const [batch, M, N, K] = [2, 3, 4, 5];
    const a = f64(randArray(batch * M * K, 11)), b = f64(randArray(batch * K * N, 12)), dc = f64(randArray(batch * M * N, 13));
    const args = { M, N, K, batch, transA, transB };
    const c = new Float64Array(batch * M * N);
    const loss = (): number => (matmulRef(c, a, b, args), dot(c, dc));
    const da = new Float64Array(a.length), db = new Float64Array(b.length);
    matmulBackwardRef(da, db, dc, a, b, args);
    expectClose(da, finiteDiff(loss, a), 1e-8, 1e-6, "dA");
    expectClose(db, finiteDiff(loss, b), 1e-8, 1e-6, "dB");
  });

  it.each(LAYOUTS)("GPU matches the reference on a batch of irregular products (transA %s, transB %s)", async (transA, transB) => {
    const gpu = await testGpu();
    const [batch, M, N, K] = [3, 13, 21, 9];
    const a = randArray(batch * M * K, 14), b = randArray(batch * K * N, 15), dc = randArray(batch * M * N, 16);
    const args = { M, N, K, batch, transA, transB };
    const ta = gpu.upload(a), tb = gpu.upload(b), tdc = gpu.upload(dc);
    const da = gpu.empty([a.length]), db = gpu.empty([b.length]);
    matmulBackward(gpu, da, db, tdc, ta, tb, args);
    const rda = new Float32Array(a.length), rdb = new Float32Array(b.length);
    matmulBackwardRef(rda, rdb, dc, a, b, args);
    expectClose(await gpu.read(da), rda, 1e-5, 1e-5, "dA");
    expectClose(await gpu.read(db), rdb, 1e-5, 1e-5, "dB");
    gpu.release(ta, tb, tdc, da, db);
  });

  it("refuses a shared (stride 0) operand, whose gradient is a sum over the batch", async () => {
    const gpu = await testGpu();
    const t = gpu.empty([64]);
    expect(() => matmulBackward(gpu, null, t, t, t, t, { M: 2, N: 2, K: 2, batch: 2, strideB: 0 })).toThrow(/linearBackward/);
    gpu.release(t);
  });
});

describe("matmul forward feeds backward", () => {
  it("a product and its gradient round-trip on the GPU without readback in between", async () => {
    const gpu = await testGpu();
    const [M, N, K] = [5, 6, 7];
    const a = randArray(M * K, 20), b = randArray(K * N, 21);
    const ta = gpu.upload(a), tb = gpu.upload(b), c = gpu.empty([M, N]), da = gpu.empty([M * K]);
    matmul(gpu, c, ta, tb, { M, N, K });
    matmulBackward(gpu, da, null, c, ta, tb, { M, N, K }); // d/dA of 0.5 |AB|^2 = (AB) B^T
    const rc = new Float32Array(M * N), rda = new Float32Array(M * K);
    matmulRef(rc, a, b, { M, N, K });
    matmulBackwardRef(rda, null, rc, a, b, { M, N, K });
    expectClose(await gpu.read(da), rda, 1e-5, 1e-5);
  });
});
