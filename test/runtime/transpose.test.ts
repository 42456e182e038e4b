// transpose.ts against its reference on irregular sizes, with IEEE special values.
import { describe, expect, it } from "vitest";
import { transposeAccumulate } from "../../runtime/engine/ops/transpose.js";
import { transposeAccumulateRef } from "../../runtime/engine/ops/transpose.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { randArray } from "../helpers/numeric.js";

describe("transpose accumulate", () => {
  it.each([[1, 1], [1, 37], [37, 1], [151, 33], [70001, 3]])("R=%i C=%i equals the reference (exact: one addition per element)", async (R, C) => {
    const gpu = await testGpu();
    const src = randArray(R * C, R + C), out = randArray(R * C, R * C);
    const to = gpu.upload(out), ts = gpu.upload(src);
    transposeAccumulate(gpu, to, ts, R, C);
    const ref = Float32Array.from(out);
    transposeAccumulateRef(ref, src, R, C);
    expect(Array.from(await gpu.read(to))).toEqual(Array.from(ref));
    gpu.release(to, ts);
  });

  it("adds inf and NaN as IEEE does, element by element", async () => {
    const gpu = await testGpu();
    const src = new Float32Array([Infinity, NaN, 1, -Infinity, 2, 3]); // (2, 3)
    const out = new Float32Array([1, -Infinity, 0, 0, 5, 6]); // (3, 2)
    const to = gpu.upload(out);
    transposeAccumulate(gpu, to, gpu.upload(src), 2, 3);
    expect(Array.from(await gpu.read(to))).toEqual([Infinity, -Infinity, NaN, 2, 6, 9]);
  });

  it("refuses short tensors and aliasing", async () => {
    const gpu = await testGpu();
    const a = gpu.empty([6], "a"), b = gpu.empty([5], "b");
    expect(() => transposeAccumulate(gpu, a, b, 2, 3)).toThrow("transposeAccumulate: 'a' (6) and 'b' (5) need 6 elements");
    expect(() => transposeAccumulate(gpu, a, a, 2, 3)).toThrow("must not alias");
  });
});
