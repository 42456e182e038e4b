// strided-copy.ts against its reference: columns out of and into row-major tables, bits kept.
import { describe, expect, it } from "vitest";
import { stridedCopy } from "../../runtime/engine/ops/strided-copy.js";
import { stridedCopyRef } from "../../runtime/engine/ops/strided-copy.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { randArray } from "../helpers/numeric.js";

describe("strided copy", () => {
  it.each([
    [1, { stride: 16, offset: 12 }, { stride: 1, offset: 0 }],
    [37, { stride: 16, offset: 13 }, { stride: 1, offset: 0 }],
    [1000, { stride: 1, offset: 0 }, { stride: 2, offset: 1 }],
    [70001, { stride: 3, offset: 2 }, { stride: 2, offset: 0 }],
  ])("n=%i from %o to %o equals the reference; other elements untouched", async (n, s, o) => {
    const gpu = await testGpu();
    const src = randArray(n * s.stride, n), out = randArray(n * o.stride, n + 1);
    const ts = gpu.upload(src), to = gpu.upload(out);
    stridedCopy(gpu, to, o, ts, s, n);
    stridedCopyRef(out, o, src, s, n);
    expect(Array.from(await gpu.read(to))).toEqual(Array.from(out));
    gpu.release(ts, to);
  });

  it("copies NaN, infinities and -0 bit for bit, and never reads the other columns", async () => {
    const gpu = await testGpu();
    const src = new Float32Array([NaN, NaN, -0, NaN, -Infinity, NaN, 1e-45, NaN]); // column 0 of (4, 2); column 1 all NaN
    const to = gpu.zeros([4]);
    stridedCopy(gpu, to, { stride: 1, offset: 0 }, gpu.upload(src), { stride: 2, offset: 0 }, 4);
    const got = await gpu.read(to);
    expect(Number.isNaN(got[0])).toBe(true);
    expect(Object.is(got[1], -0)).toBe(true);
    expect(Array.from(got.subarray(2))).toEqual([-Infinity, Math.fround(1e-45)]);
  });

  it("refuses out-of-range strides and aliasing with the tensor's label", async () => {
    const gpu = await testGpu();
    const a = gpu.empty([10], "a"), b = gpu.empty([10], "b");
    expect(() => stridedCopy(gpu, a, { stride: 2, offset: 0 }, b, { stride: 1, offset: 0 }, 6)).toThrow("stridedCopy: out 'a' has 10 elements, 6 items of stride 2 need 11");
    expect(() => stridedCopy(gpu, a, { stride: 2, offset: 2 }, b, { stride: 1, offset: 0 }, 1)).toThrow("out stride 2 / offset 2 must be integers with 0 <= offset < stride");
    expect(() => stridedCopy(gpu, a, { stride: 1, offset: 0 }, a, { stride: 1, offset: 0 }, 3)).toThrow("must not alias");
  });
});
