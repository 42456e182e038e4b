// The vec4 register schedule without subgroup operations (what software adapters without
// subgroups run; `register` itself takes the subgroup-broadcast form where it can), in its
// own file so its pipelines compile in parallel with the other schedule files.
import { describe, expect, it } from "vitest";
import { hasSubgroups8, matmul } from "../../runtime/engine/ops/matmul.js";
import { matmulRef } from "../../runtime/engine/ops/matmul.ref.js";
import { SUBGROUP_VEC4_TALL_TILES, SUBGROUP_VEC4_TILES, registerVec4Kernel, vec4Applies, vec4Tile } from "../../runtime/engine/ops/matmul/register-vec4.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray } from "../helpers/numeric.js";
import { scheduleSuite } from "./matmul-schedule-cases.js";

scheduleSuite(["register-vec4"]);

describe("subgroup-broadcast vec4 kernel", () => {
  it("is what the register schedule uses on this adapter when it has 8-lane subgroups", async () => {
    const gpu = await testGpu();
    if (gpu.info.isSoftware) expect(hasSubgroups8(gpu)).toBe(gpu.device.features.has("subgroups"));
    const k = registerVec4Kernel({ transA: true, transB: false }, SUBGROUP_VEC4_TILES);
    expect(k.enables).toEqual(["subgroups"]);
    expect(k.workgroupSize).toEqual([8, 1, 1]);
  });

  it("rejects a row tile that is not whole vec4s per lane", () => {
    expect(() => registerVec4Kernel({ transA: true, transB: false }, { ...SUBGROUP_VEC4_TALL_TILES, tm: 12 })).toThrow(/multiple of 8/);
  });

  // Every layout with 32-row tiles (several vec4 loads of A per lane), dispatched directly so
  // that layouts the register schedule gives other tiles are covered too.
  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])("with 32-row tiles matches the reference on irregular sizes (transA %s, transB %s)", async (transA, transB) => {
    const gpu = await testGpu();
    // Without 8-lane subgroups the kernel cannot compile here; the register schedule (its fallback) is checked instead.
    const direct = hasSubgroups8(gpu);
    const kernel = registerVec4Kernel({ transA, transB }, SUBGROUP_VEC4_TALL_TILES);
    const tile = vec4Tile(SUBGROUP_VEC4_TALL_TILES);
    let seed = 40;
    for (const [M, N, K] of [[4, 8, 4], [36, 68, 20], [100, 36, 44], [68, 12, 132]] as const) {
      const a = randArray(M * K, seed++), b = randArray(K * N, seed++), c0 = randArray(M * N, seed++);
      const out = gpu.upload(c0), ta = gpu.upload(a), tb = gpu.upload(b);
      const args = { M, N, K, strideA: M * K, strideB: K * N, strideC: M * N, rowOffset: 0, alpha: 0.5, beta: 1, hasBias: 0 };
      if (direct) gpu.dispatch(kernel, [out, ta, tb, tb], args, [Math.ceil(N / tile.cols), Math.ceil(M / tile.rows), 1]);
      else matmul(gpu, out, ta, tb, { M, N, K, transA, transB, alpha: 0.5, beta: 1, variant: "register" });
      const ref = Float32Array.from(c0);
      matmulRef(ref, a, b, { M, N, K, transA, transB, alpha: 0.5, beta: 1 });
      expectClose(await gpu.read(out), ref, 2e-6 * K, 1e-5, `tall ${+transA}${+transB} ${M}x${N}x${K}`);
      gpu.release(out, ta, tb);
    }
  });
});

// A weight gradient (A stored (K, M), B stored (K, N)) over a token count K that is not a
// multiple of 4: the vec4 kernels end with single k-steps instead of falling back to the
// scalar kernel, and every schedule sums k = 0 .. K-1 in order, so the bits are the scalar's.
describe("vec4 kernels with a k-tail (transA, K % 4 != 0)", () => {
  it.each([
    [8, 4, 1],
    [36, 12, 7],
    [100, 68, 133],
    [176, 64, 542],
  ])("register and register-vec4 equal register-scalar bit for bit and match the reference, M=%i N=%i K=%i", async (M, N, K) => {
    const gpu = await testGpu();
    const a = randArray(M * K, M + K), b = randArray(K * N, N + K), c0 = randArray(M * N, 3);
    const ta = gpu.upload(a), tb = gpu.upload(b);
    const run = async (variant: "register" | "register-vec4" | "register-scalar") => {
      const out = gpu.upload(c0);
      matmul(gpu, out, ta, tb, { M, N, K, transA: true, transB: false, alpha: 0.5, beta: 1, variant });
      const got = await gpu.read(out);
      gpu.release(out);
      return got;
    };
    const scalar = await run("register-scalar");
    for (const v of ["register", "register-vec4"] as const) expect(Array.from(await run(v)), v).toEqual(Array.from(scalar));
    const ref = Float32Array.from(c0);
    matmulRef(ref, a, b, { M, N, K, transA: true, transB: false, alpha: 0.5, beta: 1 });
    expectClose(scalar, ref, 2e-6 * K, 1e-5, `tn ${M}x${N}x${K}`);
    expect(vec4Applies({ transA: true, transB: false }, M, N, K, M * K, K * N)).toBe(true);
    expect(vec4Applies({ transA: false, transB: false }, M, N, K, M * K, K * N)).toBe(false); // A (M, K) runs along K
    gpu.release(ta, tb);
  });
});
