// Half-precision weights: the f32 -> f16 rounding (reference against hand-derived bits, the GPU
// cast bit-exact against the reference), the matmul with an f16 B operand against its reference
// on irregular sizes in all four layouts and on edge values (f16 overflow, subnormals, NaN), the
// input gradient through an f16 weight against finite differences, and the refusal message.
import { describe, expect, it } from "vitest";
import { matmul } from "../../runtime/engine/ops/matmul.js";
import { castToF16, f16Schedule, matmulF16, readHalfBits, requireShaderF16 } from "../../runtime/engine/ops/matmul-f16.js";
import { f16Bits, f16Round, halfValue, matmulF16Ref, toHalfBits } from "../../runtime/engine/ops/matmul-f16.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

/** An f16 tensor holding `w` rounded, made the way weights are: upload f32, cast on the GPU. */
async function halfTensor(w: Float32Array, label: string) {
  const gpu = await testGpu();
  const master = gpu.upload(w, [w.length], `${label} master`);
  const h = gpu.empty([w.length], label, "f16");
  castToF16(gpu, h, master);
  gpu.release(master);
  return h;
}

describe("f32 -> f16 rounding (reference)", () => {
  it.each([
    [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [-1e6, 0xfc00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00], [NaN, 0x7e00], [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -25, 0x0000],
    [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], [-0, 0x8000], [1e-45, 0x0000],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2047 * 2 ** -25, 0x0400],
  ])("%d -> 0x%s", (x, bits) => {
    expect(f16Bits(x).toString(16)).toBe(bits.toString(16));
  });

  it("every finite half round-trips through its value", () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = halfValue(h);
      if (!Number.isNaN(v) && f16Bits(v) !== h) wrong.push(h.toString(16));
    }
    expect(wrong).toEqual([]);
  });
});

describe("bf16 checkpoints under f16 (spec/language.md, Half precision)", () => {
  it("every bf16 value in [2^-14, 65504] is exact in f16; below, it rounds to the subnormal grid; above, it becomes Infinity", () => {
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      bits[0] = h << 16; // a bf16 is the top half of an f32
      const x = f[0]!, ax = Math.abs(x);
      if (!Number.isFinite(x)) continue;
      const r = f16Round(x);
      const ok = ax >= 2 ** -14 && ax <= 65504 ? r === x : ax < 2 ** -14 ? Math.abs(r - x) <= 2 ** -25 : Math.abs(r) === (ax >= 65520 ? Infinity : 65504);
      if (!ok) wrong.push(x);
    }
    expect(wrong).toEqual([]);
  });
});

describe("castToF16 on the GPU", () => {
  it("is bit-exact against the reference on edge values and an odd length", async () => {
    const gpu = await testGpu();
    const edge = [0, -0, 1, -1, 0.1, 65504, 65519.99, 65520, 1e6, -1e6, Infinity, -Infinity, NaN, 2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 1e-45, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2047 * 2 ** -25, 3e-5, -7.7e-6];
    const x = new Float32Array([...edge, ...randArray(1001, 11, -70000, 70000), ...randArray(501, 12, -1e-4, 1e-4)]);
    const h = await halfTensor(x, "cast edge");
    expect(h.byteLength).toBe(Math.ceil(x.length / 2) * 4);
    const got = await readHalfBits(gpu, h);
    const want = toHalfBits(x);
    for (let i = 0; i < x.length; i++) {
      // NaN payloads may differ; a NaN must stay a NaN.
      if (Number.isNaN(x[i]!)) expect(Number.isNaN(halfValue(got[i]!)), `element ${i}`).toBe(true);
      else expect(got[i], `element ${i} (${x[i]})`).toBe(want[i]);
    }
    gpu.release(h);
  });

  it("refuses mismatched dtypes and sizes", async () => {
    const gpu = await testGpu();
    const a = gpu.empty([5]), h = gpu.empty([4], "h4", "f16");
    expect(() => castToF16(gpu, h, a)).toThrow("castToF16: 'h4' has 4 elements, 'tensor' 5");
    expect(() => castToF16(gpu, a, a)).toThrow("castToF16: expects an f16 output and an f32 input, got f32 'tensor' and f32 'tensor'");
    expect(() => gpu.copy(a, h)).toThrow("copy 'h4' -> 'tensor': f16 tensors are not copied element-wise");
    gpu.release(a, h);
  });
});

describe("matmul with an f16 B operand", () => {
  // f32 accumulation of K products against a float64 reference on the same rounded B.
  const ATOL = 1e-5, RTOL = 1e-5;

  const SHAPES = [
    [false, true, 37, 29, 45, 1],
    [false, false, 37, 29, 45, 1],
    [true, false, 19, 70, 13, 2],
    [true, true, 65, 3, 66, 3],
    [false, true, 1, 1, 1, 1],
  ] as const;
  it.each((["naive", "tiled"] as const).flatMap((v) => SHAPES.map((s) => [v, ...s] as const)))("%s: transA %s transB %s, M %i N %i K %i batch %i: matches the reference (bias, alpha, beta)", async (variant, transA, transB, M, N, K, batch) => {
    const gpu = await testGpu();
    const a = randArray(batch * M * K, M + 1), b = randArray(batch * K * N, N + 2), bias = randArray(N, 3), c0 = randArray(batch * M * N, 4);
    const args = { M, N, K, batch, transA, transB, alpha: 0.75, beta: 1, bias: null, variant };
    const ta = gpu.upload(a), tb = await halfTensor(b, "w16"), tbias = gpu.upload(bias), out = gpu.upload(c0);
    matmul(gpu, out, ta, tb, { ...args, bias: tbias });
    const ref = Float64Array.from(c0);
    matmulF16Ref(ref, a, b, { M, N, K, batch, transA, transB, alpha: 0.75, beta: 1, bias });
    expectClose(await gpu.read(out), ref, ATOL, RTOL, "out");
    gpu.release(ta, tb, tbias, out);
  });

  it("shares one f16 weight across a batch (stride 0) and overwrites NaN outputs when beta = 0", async () => {
    const gpu = await testGpu();
    const [M, N, K, batch] = [5, 9, 70, 3];
    const a = randArray(batch * M * K, 21), b = randArray(N * K, 22);
    const ta = gpu.upload(a), tb = await halfTensor(b, "shared w16"), out = gpu.upload(new Float32Array(batch * M * N).fill(NaN));
    matmulF16(gpu, out, ta, tb, { M, N, K, batch, transB: true, strideB: 0 });
    const ref = new Float64Array(batch * M * N);
    matmulF16Ref(ref, a, b, { M, N, K, batch, transB: true, strideB: 0 });
    expectClose(await gpu.read(out), ref, ATOL, RTOL, "out");
    gpu.release(ta, tb, out);
  });

  it("carries f16 overflow (Infinity), subnormal weights and NaN into the product as the reference does", async () => {
    const gpu = await testGpu();
    const [M, N, K] = [3, 4, 2];
    // Rows of B (N, K) with transB: an overflowing weight, two subnormal halves, a NaN, plain values.
    const b = new Float32Array([1e5, 1, 3e-7, 6e-8, NaN, 1, 0.1, -0.2]);
    const a = new Float32Array([1, 0, 1000, 2000, 0.5, -4]);
    const ta = gpu.upload(a), tb = await halfTensor(b, "edge w16"), out = gpu.empty([M, N]);
    matmul(gpu, out, ta, tb, { M, N, K, transB: true });
    const ref = new Float64Array(M * N);
    matmulF16Ref(ref, a, b, { M, N, K, transB: true });
    const got = await gpu.read(out);
    expect(got[0]).toBe(Infinity); // 1e5 -> +Infinity in f16
    expect(Number.isNaN(got[2]!)).toBe(true);
    // Subnormal halves are kept, not flushed: 3e-7 -> 5 * 2^-24, 6e-8 -> 1 * 2^-24.
    expect(f16Round(3e-7)).toBe(5 * 2 ** -24);
    expectClose(got, ref, 1e-9, 1e-6, "edge products");
    expect(got[1 * N + 1]).toBeCloseTo(1000 * 5 * 2 ** -24 + 2000 * 2 ** -24, 9);
    gpu.release(ta, tb, out);
  });

  it("the input gradient through an f16 weight matches finite differences", async () => {
    // forward out = x @ half(W)^T; L = <out, g>, so dL/dx = g @ half(W): the nn product on the
    // f16 weight. dL/dW is taken at the rounded weight and applied to the f32 master (rounding
    // has zero derivative almost everywhere: the usual mixed-precision convention), so it is
    // the plain f32 product g^T @ x that matmul-backward.test.ts covers.
    const gpu = await testGpu();
    const [N, C, OC] = [6, 33, 17];
    const x = randArray(N * C, 31), w = randArray(OC * C, 32), g = randArray(N * OC, 33);
    const xd = f64(x), out = new Float64Array(N * OC);
    const loss = (): number => (matmulF16Ref(out, xd, w, { M: N, N: OC, K: C, transB: true }), dot(out, g));
    const fd = finiteDiff(loss, xd);
    const tw = await halfTensor(w, "w16"), tg = gpu.upload(g), dx = gpu.empty([N, C]);
    matmul(gpu, dx, tg, tw, { M: N, N: C, K: OC });
    expectClose(await gpu.read(dx), fd, 1e-5, 1e-4, "dx against finite differences");
    gpu.release(tw, tg, dx);
  });
});

describe("f16 schedule choice", () => {
  it("runs the barrier-free loop on a software adapter, tiles elsewhere, unless the call names one", async () => {
    const gpu = await testGpu();
    expect(f16Schedule(gpu, undefined)).toBe(gpu.info.isSoftware ? "naive" : "tiled");
    expect(f16Schedule(gpu, "register")).toBe(gpu.info.isSoftware ? "naive" : "tiled");
    expect([f16Schedule(gpu, "naive"), f16Schedule(gpu, "tiled")]).toEqual(["naive", "tiled"]);
  });
});

describe("precision f16 refusal", () => {
  it("names the setting and the adapter when shader-f16 is missing", () => {
    expect(() => requireShaderF16(new Set(["subgroups"]), "SwiftShader Device", "model { precision f16 }")).toThrow(
      "model { precision f16 }: this adapter (SwiftShader Device) lacks the WebGPU feature 'shader-f16' that half-precision weights need; use precision f32 (the default) on this machine",
    );
    expect(() => requireShaderF16(new Set(["shader-f16"]), "llvmpipe", "--precision f16")).not.toThrow();
  });
});
