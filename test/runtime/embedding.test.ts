import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { assertIdsInRange, embeddingBackward, embeddingForward, invalidIds } from "../../runtime/engine/ops/embedding.js";
import { embeddingBackwardRef, embeddingForwardRef } from "../../runtime/engine/ops/embedding.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray, randInts } from "../helpers/numeric.js";

/** Forward then backward (overwrite) on the GPU; out and dtable read back. */
async function runGpu(gpu: Gpu, table: Float32Array, ids: Uint32Array, dout: Float32Array, N: number, C: number, V: number) {
  const tt = gpu.upload(table, [V, C]), ti = gpu.upload(ids, [N]), td = gpu.upload(dout, [N, C]);
  const out = gpu.empty([N, C]), dtable = gpu.empty([V, C]);
  embeddingForward(gpu, out, tt, ti, { N, C, V });
  embeddingBackward(gpu, dtable, td, ti, { N, C, V });
  const res = { out: await gpu.read(out), dtable: await gpu.read(dtable) };
  gpu.release(tt, ti, td, out, dtable);
  return res;
}

function runRef(table: Float32Array, ids: Uint32Array, dout: Float32Array, N: number, C: number, V: number) {
  const out = new Float32Array(N * C), dtable = new Float32Array(V * C);
  embeddingForwardRef(out, table, ids, N, C, V);
  embeddingBackwardRef(dtable, dout, ids, N, C, V);
  return { out, dtable };
}

describe("embedding", () => {
  const sizes: [number, number, number][] = [];
  // C % 4 == 0 takes the per-row vec4 kernel on CPU adapters (4, 64, 1000), the others the flat one.
  for (const N of [1, 37]) for (const C of [1, 3, 4, 64, 257, 1000]) sizes.push([N, C, 11]);
  sizes.push([37, 3, 5003], [300, 70, 1]);

  it.each(sizes)("GPU matches the reference bit for bit, N=%i C=%i V=%i", async (N, C, V) => {
    const gpu = await testGpu();
    // Few rows for many tokens: most rows receive several gradients, summed in token order.
    const table = randArray(V * C, 1), ids = randInts(N, N + C + V, V), dout = randArray(N * C, 3);
    const got = await runGpu(gpu, table, ids, dout, N, C, V);
    const ref = runRef(table, ids, dout, N, C, V);
    expectClose(got.out, ref.out, 0, 0, "out");
    expectClose(got.dtable, ref.dtable, 0, 0, "dtable");
  });

  it("reference backward matches float64 finite differences", () => {
    const N = 9, C = 4, V = 5;
    const ids = new Uint32Array([0, 3, 3, 1, 0, 3, 4, 1, 3]);
    const table = f64(randArray(V * C, 4)), dout = f64(randArray(N * C, 5));
    const out = new Float64Array(N * C);
    const loss = () => {
      embeddingForwardRef(out, table, ids, N, C, V);
      return dot(out, dout);
    };
    const dtable = new Float64Array(V * C);
    embeddingBackwardRef(dtable, dout, ids, N, C, V);
    expectClose(dtable, finiteDiff(loss, table), 1e-9, 1e-7, "dtable vs FD");
    expect(dtable.subarray(2 * C, 3 * C).every((v) => v === 0)).toBe(true); // row 2 is never used
  });

  it.each([5, 8])("out-of-range ids read as zero rows, get no gradient, and the CPU check reports them (C=%i)", async (C) => {
    const gpu = await testGpu();
    const N = 6, V = 4;
    const ids = new Uint32Array([1, 4, 0, 0xffffffff, 3, 1000]);
    const table = randArray(V * C, 6), dout = randArray(N * C, 7);
    const got = await runGpu(gpu, table, ids, dout, N, C, V);
    const ref = runRef(table, ids, dout, N, C, V);
    for (const n of [1, 3, 5]) expect(got.out.subarray(n * C, (n + 1) * C).every((v) => v === 0)).toBe(true);
    expectClose(got.out, ref.out, 0, 0, "out");
    expectClose(got.dtable, ref.dtable, 0, 0, "dtable");
    // Row 2 is used by no valid id: its gradient is exactly 0 even though id 1000 and 2^32-1 were dropped.
    expect(got.dtable.subarray(2 * C, 3 * C).every((v) => v === 0)).toBe(true);
    expect(invalidIds(ids, V)).toEqual([1, 3, 5]);
    expect(invalidIds(new Uint32Array([0, 3]), V)).toEqual([]);
    expect(() => assertIdsInRange(ids, V)).toThrow(/3 of 6 ids are outside the vocabulary \[0, 4\); first at position 1 \(id 4\)/);
    expect(() => assertIdsInRange(new Uint32Array([3, 0]), V)).not.toThrow();
  });

  it("accumulates into dtable when asked; overwrite clears rows no token uses", async () => {
    const gpu = await testGpu();
    const N = 37, C = 257, V = 50;
    const ids = randInts(N, 8, V), dout = randArray(N * C, 9), start = randArray(V * C, 10);
    const ti = gpu.upload(ids), td = gpu.upload(dout), dtable = gpu.upload(start, [V, C]);
    embeddingBackward(gpu, dtable, td, ti, { N, C, V, accumulate: true });
    const acc = await gpu.read(dtable);
    embeddingBackward(gpu, dtable, td, ti, { N, C, V });
    const over = await gpu.read(dtable);
    const refAcc = Float32Array.from(start), refOver = new Float32Array(V * C);
    embeddingBackwardRef(refAcc, dout, ids, N, C, V, true);
    embeddingBackwardRef(refOver, dout, ids, N, C, V);
    expectClose(acc, refAcc, 0, 0, "accumulated");
    expectClose(over, refOver, 0, 0, "overwritten");
    gpu.release(ti, td, dtable);
  });

  it("passes inf and NaN through: table values as they are, gradients into their own row only", async () => {
    const gpu = await testGpu();
    const N = 4, C = 3, V = 3;
    const table = new Float32Array([Infinity, NaN, -0, 1, 2, 3, 3.4e38, -1e-45, 0]);
    const ids = new Uint32Array([0, 2, 1, 2]);
    const dout = new Float32Array([1, 2, 3, NaN, 0, 0, 4, 5, 6, 3.4e38, 0, 0]);
    const got = await runGpu(gpu, table, ids, dout, N, C, V);
    const ref = runRef(table, ids, dout, N, C, V);
    expect(got.out[0]).toBe(Infinity);
    expect(Number.isNaN(got.out[1])).toBe(true);
    expect(Number.isNaN(got.dtable[2 * C])).toBe(true); // NaN + 3.4e38 in row 2, column 0
    expect(got.dtable[C]).toBe(4); // row 1 untouched by the NaN
    expectClose(got.out, ref.out, 0, 0, "out");
    expectClose(got.dtable, ref.dtable, 0, 0, "dtable");
  });
});
