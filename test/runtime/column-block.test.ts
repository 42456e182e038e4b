// column-block.ts against its reference: a block of columns into and out of row-major tables.
import { describe, expect, it } from "vitest";
import { copyColumnBlock } from "../../runtime/engine/ops/column-block.js";
import { copyColumnBlockRef } from "../../runtime/engine/ops/column-block.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { randArray } from "../helpers/numeric.js";

describe("column block copy", () => {
  it.each([
    // rows, cols, dst (stride, col0), src (stride, col0)
    [1, 1, { stride: 7, col0: 6 }, { stride: 1, col0: 0 }],
    [13, 416, { stride: 1009, col0: 416 }, { stride: 416, col0: 0 }],
    [13, 177, { stride: 177, col0: 0 }, { stride: 1009, col0: 832 }],
    [300, 250, { stride: 251, col0: 1 }, { stride: 300, col0: 49 }],
  ])("rows=%i cols=%i into %o from %o equals the reference; other columns untouched", async (rows, cols, d, s) => {
    const gpu = await testGpu();
    const src = randArray(rows * s.stride, rows + cols), dst = randArray(rows * d.stride, rows * 3 + cols);
    const ts = gpu.upload(src), td = gpu.upload(dst);
    copyColumnBlock(gpu, td, d, ts, s, rows, cols);
    copyColumnBlockRef(dst, d, src, s, rows, cols);
    expect(Array.from(await gpu.read(td))).toEqual(Array.from(dst));
    gpu.release(ts, td);
  });

  it("copies NaN, infinities and -0 as they are", async () => {
    const gpu = await testGpu();
    const src = new Float32Array([NaN, -0, -Infinity, 1e-45]);
    const td = gpu.zeros([2, 3]);
    copyColumnBlock(gpu, td, { stride: 3, col0: 1 }, gpu.upload(src), { stride: 2, col0: 0 }, 2, 2);
    const got = await gpu.read(td);
    expect([got[0], got[3]]).toEqual([0, 0]);
    expect(Number.isNaN(got[1])).toBe(true);
    expect(Object.is(got[2], -0)).toBe(true);
    expect([got[4], got[5]]).toEqual([-Infinity, Math.fround(1e-45)]); // a subnormal survives
  });

  it("refuses a block that does not fit its rows, naming the operand", async () => {
    const gpu = await testGpu();
    const t = gpu.zeros([10]), u = gpu.zeros([10]);
    expect(() => copyColumnBlock(gpu, t, { stride: 5, col0: 3 }, u, { stride: 5, col0: 0 }, 2, 3)).toThrow("copyColumnBlock: dst columns 3..6 do not fit rows of 5");
    expect(() => copyColumnBlock(gpu, t, { stride: 5, col0: 0 }, u, { stride: 5, col0: 0 }, 3, 3)).toThrow("copyColumnBlock: dst 'zeros' has 10 elements, 3 rows of stride 5 need 13");
    gpu.release(t, u);
  });
});
