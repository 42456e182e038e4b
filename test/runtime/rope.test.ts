import { describe, expect, it } from "vitest";
import { createRopeTables, ropeBackward, ropeForward, ropeInvFreq } from "../../runtime/engine/ops/rope.js";
import { ropeBackwardRef, ropeForwardRef } from "../../runtime/engine/ops/rope.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray, randInts } from "../helpers/numeric.js";

async function gpuRope(x: Float32Array, pos: Uint32Array, s: { B: number; T: number; H: number; D: number }, theta: number, maxPos: number, dir: "fwd" | "bwd", inPlace = false): Promise<Float32Array> {
  const gpu = await testGpu();
  const tables = createRopeTables(gpu, { maxPos, D: s.D, theta });
  const tx = gpu.upload(x, [s.B, s.T, s.H, s.D], "x");
  const tp = gpu.upload(pos, [s.B * s.T], "pos");
  const out = inPlace ? tx : gpu.empty([s.B, s.T, s.H, s.D], "out");
  (dir === "fwd" ? ropeForward : ropeBackward)(gpu, out, tx, tp, tables, s);
  const got = await gpu.read(out);
  gpu.release(tx, tp, tables.cos, tables.sin, inPlace ? null : out);
  return got;
}

describe("rope forward", () => {
  it("matches the HF formula at known positions", async () => {
    // D = 4, theta = 10000: inv_freq = [1, 1/100]; head layout [x1_0, x1_1, x2_0, x2_1].
    expect(Array.from(ropeInvFreq(4, 10000))).toEqual([1, Math.fround(0.01)]);
    const pos = new Uint32Array([0, 1, 3000]);
    const x = new Float32Array([1, 2, 3, 4, 1, 0, 0, 0, 0.5, 0, 0, 0]);
    const got = await gpuRope(x, pos, { B: 1, T: 3, H: 1, D: 4 }, 10000, 4096, "fwd");
    // Position 0 is the identity.
    expectClose(got.subarray(0, 4), [1, 2, 3, 4], 0, 0);
    // Position 1: the first pair rotates by 1 radian; [1, 0, 0, 0] -> [cos 1, 0, sin 1, 0].
    expectClose(got.subarray(4, 8), [Math.cos(1), 0, Math.sin(1), 0], 1e-7, 1e-6);
    // Position 3000, angle exactly 3000 rad in fp32: a GPU fp32 sin of it would be far off.
    expectClose(got.subarray(8, 12), [0.5 * Math.cos(3000), 0, 0.5 * Math.sin(3000), 0], 1e-7, 1e-6);
  });

  it("forms angles as HF does (fp32 pos * inv_freq) for Qwen2's theta at large positions", async () => {
    const D = 64, theta = 1_000_000, maxPos = 5000;
    const pos = new Uint32Array([1, 17, 999, 2047, 4095, 4999]);
    const x = randArray(pos.length * D, 5);
    const got = await gpuRope(x, pos, { B: 1, T: pos.length, H: 1, D }, theta, maxPos, "fwd");
    const want = new Float64Array(x.length);
    for (let t = 0; t < pos.length; t++) {
      for (let i = 0; i < D / 2; i++) {
        const inv = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / D)));
        const a = Math.fround(pos[t]! * inv);
        const x1 = x[t * D + i]!, x2 = x[t * D + i + D / 2]!;
        want[t * D + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        want[t * D + i + D / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
    expectClose(got, want, 1e-6, 1e-5);
  });

  it.each([
    { B: 1, T: 1, H: 1, D: 2 },
    { B: 3, T: 7, H: 6, D: 16 },
    { B: 2, T: 33, H: 2, D: 24 },
    { B: 5, T: 13, H: 3, D: 64 },
  ])("matches the reference with per-token positions for %o", async (s) => {
    const theta = 10000, maxPos = 300;
    const x = randArray(s.B * s.T * s.H * s.D, s.T + s.D, -3, 3);
    // Right-padded rows of different lengths, plus rows decoding at an offset.
    const pos = new Uint32Array(s.B * s.T);
    for (let b = 0; b < s.B; b++) for (let t = 0; t < s.T; t++) pos[b * s.T + t] = b % 2 === 0 ? t : 100 + 37 * b + t;
    const ref = new Float64Array(x.length);
    ropeForwardRef(ref, f64(x), pos, s.B, s.T, s.H, s.D, theta);
    expectClose(await gpuRope(x, pos, s, theta, maxPos, "fwd"), ref, 1e-6, 1e-5);
    expectClose(await gpuRope(x, pos, s, theta, maxPos, "fwd", true), ref, 1e-6, 1e-5, "in place");
  });

  it("keeps large magnitudes, confines NaN to its pair, and writes NaN for positions outside the table", async () => {
    const D = 6, s = { B: 1, T: 3, H: 1, D };
    const x = new Float32Array([1e30, -2e30, 3e30, 4e30, 5e30, -6e30, NaN, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6]);
    const pos = new Uint32Array([77, 5, 64]); // 64 is outside a 64-row table
    const got = await gpuRope(x, pos, s, 10000, 64, "fwd");
    const ref = new Float64Array(x.length);
    ropeForwardRef(ref, f64(x), pos, 1, 3, 1, D, 10000);
    // Row 0 is also out of range (77 >= 64).
    expect(Array.from(got.subarray(0, 6)).every(Number.isNaN)).toBe(true);
    // Row 1: NaN at i=0 reaches out[0] and out[3] only.
    expect(Number.isNaN(got[6]) && Number.isNaN(got[9])).toBe(true);
    expectClose([got[7]!, got[8]!, got[10]!, got[11]!], [ref[7]!, ref[8]!, ref[10]!, ref[11]!], 1e-6, 1e-5);
    expect(Array.from(got.subarray(12)).every(Number.isNaN)).toBe(true);
    const big = await gpuRope(x.subarray(0, 6).slice(), new Uint32Array([63]), { B: 1, T: 1, H: 1, D }, 10000, 64, "fwd");
    const bigRef = new Float64Array(6);
    ropeForwardRef(bigRef, f64(x.subarray(0, 6)), [63], 1, 1, 1, D, 10000);
    expectClose(big, bigRef, 0, 1e-5);
  });
});

describe("rope backward", () => {
  it("reference backward matches float64 finite differences", () => {
    const B = 2, T = 3, H = 2, D = 6, theta = 500;
    const x = f64(randArray(B * T * H * D, 51));
    const dout = f64(randArray(B * T * H * D, 52));
    const pos = new Uint32Array([0, 1, 2, 40, 41, 7]);
    const y = new Float64Array(x.length);
    const fd = finiteDiff(() => {
      ropeForwardRef(y, x, pos, B, T, H, D, theta);
      return dot(y, dout);
    }, x, 1e-6);
    const dx = new Float64Array(x.length);
    ropeBackwardRef(dx, dout, pos, B, T, H, D, theta);
    expectClose(dx, fd, 1e-8, 1e-6);
  });

  it.each([
    { B: 3, T: 7, H: 6, D: 16 },
    { B: 2, T: 33, H: 1, D: 24 },
  ])("GPU matches the reference and inverts forward for %o", async (s) => {
    const theta = 10000, maxPos = 200;
    const n = s.B * s.T * s.H * s.D;
    const dout = randArray(n, 61 + s.D);
    const pos = randInts(s.B * s.T, 62, maxPos);
    const ref = new Float64Array(n);
    ropeBackwardRef(ref, f64(dout), pos, s.B, s.T, s.H, s.D, theta);
    expectClose(await gpuRope(dout, pos, s, theta, maxPos, "bwd"), ref, 1e-6, 1e-5);
    expectClose(await gpuRope(dout, pos, s, theta, maxPos, "bwd", true), ref, 1e-6, 1e-5, "in place");
    // Backward of forward is the identity (the rotation is orthogonal).
    const y = await gpuRope(dout, pos, s, theta, maxPos, "fwd");
    expectClose(await gpuRope(y, pos, s, theta, maxPos, "bwd"), dout, 1e-6, 1e-5, "round trip");
  });
});
