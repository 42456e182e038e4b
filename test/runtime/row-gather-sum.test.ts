// row-gather-sum.ts against its reference (bit for bit: the same f32 order), on irregular
// lists (empty, one row, a whole group), and as the exact transpose of a row gather: for the
// map m, <gather_m(x), y> = <x, gatherSum_{m^T}(y)>, which is what makes it the gather's backward.
import { describe, expect, it } from "vitest";
import { embeddingForward } from "../../runtime/engine/ops/embedding.js";
import { rowGatherSum, transposeRowMap } from "../../runtime/engine/ops/row-gather-sum.js";
import { rowGatherSumRef } from "../../runtime/engine/ops/row-gather-sum.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { randArray, randInts, rng } from "../helpers/numeric.js";

/** Random lists: row n gets 0..maxLen entries drawn from [0, M). */
function randomLists(N: number, M: number, maxLen: number, seed: number): { offsets: Uint32Array; idx: Uint32Array } {
  const r = rng(seed), offsets = new Uint32Array(N + 1), idx: number[] = [];
  for (let n = 0; n < N; n++) {
    const len = Math.floor(r() * (maxLen + 1));
    for (let k = 0; k < len; k++) idx.push(Math.floor(r() * M));
    offsets[n + 1] = idx.length;
  }
  return { offsets, idx: Uint32Array.from(idx.length > 0 ? idx : [0]) };
}

describe("row gather-sum", () => {
  it.each([
    // N, M, C, longest list
    [1, 1, 1, 1],
    [7, 5, 3, 4],
    [33, 129, 17, 9],
    [300, 40, 64, 8],
    [5, 3, 6, 0], // every list empty: zeros
  ])("N=%i rows from M=%i (C=%i, lists up to %i) equal the reference bit for bit", async (N, M, C, maxLen) => {
    const gpu = await testGpu();
    const src = randArray(M * C, N + M, -3, 3), { offsets, idx } = randomLists(N, M, maxLen, 7 * N + C);
    const t = { dst: gpu.upload(randArray(N * C, 1)), src: gpu.upload(src), offsets: gpu.upload(offsets), idx: gpu.upload(idx) };
    rowGatherSum(gpu, t.dst, t.src, t.offsets, t.idx, { N, M, C });
    const want = new Float32Array(N * C);
    rowGatherSumRef(want, src, offsets, idx, { N, M, C });
    expect(Array.from(await gpu.read(t.dst))).toEqual(Array.from(want));
    gpu.release(...Object.values(t));
  });

  it("carries NaN and infinities through its sums", async () => {
    const gpu = await testGpu();
    const src = new Float32Array([NaN, 1, Infinity, 2, -Infinity, 3]); // (3, 2)
    const offsets = Uint32Array.of(0, 1, 2, 4, 4), idx = Uint32Array.of(0, 1, 1, 2);
    const dst = gpu.empty([8]);
    rowGatherSum(gpu, dst, gpu.upload(src), gpu.upload(offsets), gpu.upload(idx), { N: 4, M: 3, C: 2 });
    // Rows: src 0; src 1; src 1 + src 2 (inf - inf = NaN); an empty list (0).
    expect(Array.from(await gpu.read(dst))).toEqual([NaN, 1, Infinity, 2, NaN, 5, 0, 0]);
  });

  it("is the transpose of the row gather: <gather(x), y> = <x, gatherSum(y)> for a map with repeats and gaps", async () => {
    const gpu = await testGpu();
    const M = 23, B = 61, C = 5;
    // Slot n reads source row map[n]; M (out of range) reads nothing, as in the shared-prefix maps.
    const map = Uint32Array.from(randInts(B, 3, M + 4), (m) => Math.min(m, M));
    const { offsets, idx } = transposeRowMap(map, M);
    expect(Array.from(offsets.slice(-1))).toEqual([map.filter((m) => m < M).length]);
    const x = randArray(M * C, 4), y = randArray(B * C, 5);
    const gx = gpu.empty([B, C]), sy = gpu.empty([M, C]);
    embeddingForward(gpu, gx, gpu.upload(x), gpu.upload(map), { N: B, C, V: M });
    rowGatherSum(gpu, sy, gpu.upload(y), gpu.upload(offsets), gpu.upload(idx.length > 0 ? idx : Uint32Array.of(0)), { N: M, M: B, C });
    const [g, s] = [await gpu.read(gx), await gpu.read(sy)];
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((acc, v, i) => acc + v * b[i]!, 0);
    expect(Math.abs(dot(g, y) - dot(x, s))).toBeLessThan(1e-5 * B * C);
    // And each source row's lists name exactly the slots that read it, in slot order.
    for (let m = 0; m < M; m++) expect(Array.from(idx.slice(offsets[m]!, offsets[m + 1]!))).toEqual([...map.keys()].filter((n) => map[n] === m));
  });

  it("refuses sizes that do not match its tensors, naming the tensor", async () => {
    const gpu = await testGpu();
    const dst = gpu.empty([6], "dst"), src = gpu.empty([4], "src"), offsets = gpu.upload(Uint32Array.of(0, 1, 2, 2), [4], "off"), idx = gpu.upload(Uint32Array.of(0, 1), [2], "idx");
    expect(() => rowGatherSum(gpu, dst, src, offsets, idx, { N: 3, M: 2, C: 2 })).not.toThrow();
    expect(() => rowGatherSum(gpu, dst, src, offsets, idx, { N: 3, M: 3, C: 2 })).toThrow("src 'src' has 4 elements, expected M * C = 6");
    expect(() => rowGatherSum(gpu, dst, src, gpu.upload(new Float32Array(4), [4], "f32 off"), idx, { N: 3, M: 2, C: 2 })).toThrow("offsets 'f32 off' must be a u32 tensor of N + 1 = 4");
    expect(() => rowGatherSum(gpu, dst, dst, offsets, idx, { N: 3, M: 3, C: 2 })).toThrow("distinct buffers");
  });
});
