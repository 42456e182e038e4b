import { describe, expect, it } from "vitest";
import { accumulate, residualForward } from "../../runtime/engine/ops/residual.js";
import { accumulateRef, residualForwardRef } from "../../runtime/engine/ops/residual.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray } from "../helpers/numeric.js";

describe("residual add", () => {
  it.each([1, 7, 1000, 65537])("matches the reference for n=%i", async (n) => {
    const gpu = await testGpu();
    const a = randArray(n, 1), b = randArray(n, 2);
    const ta = gpu.upload(a), tb = gpu.upload(b), out = gpu.empty([n]);
    residualForward(gpu, out, ta, tb);
    const ref = new Float32Array(n);
    residualForwardRef(ref, a, b);
    expectClose(await gpu.read(out), ref, 0, 0);
    accumulate(gpu, ta, tb);
    accumulateRef(a, b);
    expectClose(await gpu.read(ta), a, 0, 0);
    gpu.release(ta, tb, out);
  });

  it("propagates inf and NaN as IEEE addition does", async () => {
    const gpu = await testGpu();
    const a = new Float32Array([Infinity, -Infinity, NaN, 3.4e38, 1e-45, 0]);
    const b = new Float32Array([1, Infinity, 1, 3.4e38, 1e-45, -0]);
    const out = gpu.empty([a.length]);
    residualForward(gpu, out, gpu.upload(a), gpu.upload(b));
    const got = await gpu.read(out);
    const ref = new Float32Array(a.length);
    residualForwardRef(ref, a, b);
    expect(got[0]).toBe(Infinity);
    expect(Number.isNaN(got[2])).toBe(true);
    expect(got[3]).toBe(Infinity); // fp32 overflow
    expectClose(got.subarray(3), ref.subarray(3), 0, 0);
  });

  it("folds grids larger than 65535 workgroups into two dimensions", async () => {
    const gpu = await testGpu();
    const n = 65535 * 256 + 300;
    const a = randArray(n, 3), b = randArray(n, 4);
    const out = gpu.empty([n]);
    residualForward(gpu, out, gpu.upload(a), gpu.upload(b));
    const got = await gpu.read(out);
    for (const i of [0, 65535 * 256 - 1, 65535 * 256, n - 1]) expect(got[i]).toBe(Math.fround(a[i]! + b[i]!));
  });
});
