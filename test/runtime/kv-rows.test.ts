// kv-rows.ts against its reference: prompt keys/values gathered into the rows of a larger
// cache, bits kept, the rest of every row untouched.
import { describe, expect, it } from "vitest";
import { kvGatherRows } from "../../runtime/engine/ops/kv-rows.js";
import { kvGatherRowsRef } from "../../runtime/engine/ops/kv-rows.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { randArray } from "../helpers/numeric.js";

describe("KV row gather", () => {
  it.each([
    // B, U, H, T, D, Td, Ts, rows
    [5, 2, 1, 3, 4, 7, 3, [1, 0, 1, 1, 0]],
    [9, 3, 2, 13, 5, 17, 14, [2, 2, 0, 1, 1, 0, 2, 0, 1]],
    [128, 16, 3, 75, 8, 171, 75, Array.from({ length: 128 }, (_, b) => Math.floor(b / 8))],
    [4, 4, 1, 0, 3, 5, 5, [0, 1, 2, 3]], // T = 0: nothing copied
  ])("B=%i from U=%i rows (H=%i, T=%i, D=%i, Td=%i, Ts=%i) equals the reference", async (B, U, H, T, D, Td, Ts, rows) => {
    const gpu = await testGpu();
    const s = { B, U, H, T, D, Td, Ts };
    const kd = randArray(B * H * Td * D, 1), vd = randArray(B * H * Td * D, 2);
    const ks = randArray(U * H * Ts * D, 3), vs = randArray(U * H * Ts * D, 4);
    const t = { kd: gpu.upload(kd), vd: gpu.upload(vd), ks: gpu.upload(ks), vs: gpu.upload(vs), rows: gpu.upload(Uint32Array.from(rows)) };
    kvGatherRows(gpu, t.kd, t.vd, t.ks, t.vs, t.rows, s);
    kvGatherRowsRef(kd, ks, rows, s);
    kvGatherRowsRef(vd, vs, rows, s);
    expect(Array.from(await gpu.read(t.kd))).toEqual(Array.from(kd));
    expect(Array.from(await gpu.read(t.vd))).toEqual(Array.from(vd));
    gpu.release(...Object.values(t));
  });

  it("copies NaN, infinities, -0 and subnormals bit for bit and skips rows without a source", async () => {
    const gpu = await testGpu();
    const s = { B: 3, U: 1, H: 1, T: 2, D: 2, Td: 3, Ts: 2 };
    const src = new Float32Array([NaN, -0, Infinity, 1e-45]);
    const kd = gpu.zeros([3 * 3 * 2]), vd = gpu.zeros([3 * 3 * 2]);
    kvGatherRows(gpu, kd, vd, gpu.upload(src), gpu.upload(src.map((x) => -x)), gpu.upload(Uint32Array.of(0, 7, 0)), s);
    const got = new Uint32Array((await gpu.read(kd)).buffer);
    const want = new Uint32Array(new Float32Array([NaN, -0, Infinity, 1e-45, 0, 0, 0, 0, 0, 0, 0, 0, NaN, -0, Infinity, 1e-45, 0, 0]).buffer);
    expect(Array.from(got)).toEqual(Array.from(want)); // row 1 (source 7 >= U) and position 2 of each row untouched
    const v = await gpu.read(vd);
    expect(Object.is(v[1], 0)).toBe(true); // -(-0)
    expect(v[2]).toBe(-Infinity);
  });

  it("refuses sizes that do not match the tensors, naming the tensor", async () => {
    const gpu = await testGpu();
    const s = { B: 2, U: 1, H: 1, T: 2, D: 2, Td: 3, Ts: 2 };
    const kd = gpu.empty([12], "kd"), vd = gpu.empty([12], "vd"), ks = gpu.empty([4], "ks"), vs = gpu.empty([5], "vs"), rows = gpu.upload(Uint32Array.of(0, 0));
    expect(() => kvGatherRows(gpu, kd, vd, ks, vs, rows, s)).toThrow("kvGatherRows: vSrc 'vs' has 5 elements, expected 4");
    expect(() => kvGatherRows(gpu, kd, vd, ks, ks, rows, s)).toThrow("distinct buffers");
    expect(() => kvGatherRows(gpu, kd, vd, ks, gpu.empty([4]), rows, { ...s, T: 3 })).toThrow("T = 3 positions exceed");
    expect(() => kvGatherRows(gpu, kd, vd, ks, gpu.empty([4]), gpu.upload(Uint32Array.of(0)), s)).toThrow("rows '");
  });
});
