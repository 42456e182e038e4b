// The decoder's fused kernels (decode-rope-append.ts, decode-add-norm.ts, decode-swiglu.ts)
// against their references on irregular sizes and edge values, and bit for bit against the
// unfused kernels they replace (so decoding with them samples the same tokens).
import { describe, expect, it } from "vitest";
import { swigluForward } from "../../runtime/engine/ops/activations.js";
import { appendKV } from "../../runtime/engine/ops/attention-decode.js";
import { decodeAddRmsnorm } from "../../runtime/engine/ops/decode-add-norm.js";
import { decodeAddRmsnormRef } from "../../runtime/engine/ops/decode-add-norm.ref.js";
import { decodeRopeAppend } from "../../runtime/engine/ops/decode-rope-append.js";
import { decodeRopeAppendRef } from "../../runtime/engine/ops/decode-rope-append.ref.js";
import { decodeSwigluPacked } from "../../runtime/engine/ops/decode-swiglu.js";
import { decodeSwigluPackedRef } from "../../runtime/engine/ops/decode-swiglu.ref.js";
import { accumulate } from "../../runtime/engine/ops/residual.js";
import { rmsnormForward } from "../../runtime/engine/ops/rmsnorm.js";
import { createRopeTables, ropeForward } from "../../runtime/engine/ops/rope.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, f64, randArray } from "../helpers/numeric.js";

/** Columns [c0, c1) of each row of a (rows, W) matrix. */
function columns(x: Float32Array, rows: number, W: number, c0: number, c1: number): Float32Array {
  const out = new Float32Array(rows * (c1 - c0));
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * W + c0, r * W + c1), r * (c1 - c0));
  return out;
}

describe("decodeRopeAppend", () => {
  const s = { B: 3, Tq: 2, Hq: 6, Hkv: 2, D: 12, Tmax: 12 };
  const theta = 10000, maxPos = 12;
  const N = s.B * s.Tq, W = (s.Hq + 2 * s.Hkv) * s.D, nc = s.B * s.Hkv * s.Tmax * s.D;
  const qkv = randArray(N * W, 31, -3, 3);
  // Row 0 at 0..1, row 1 at 7..8; row 2 at positions 11, 12: 12 is outside the 12-entry
  // rope table (NaN in q) and its slot outside the 12-slot cache (dropped).
  const start = new Uint32Array([0, 7, 11]);
  const pos = Uint32Array.from({ length: N }, (_, n) => start[Math.floor(n / s.Tq)]! + (n % s.Tq));

  async function fused() {
    const gpu = await testGpu();
    const tables = createRopeTables(gpu, { maxPos, D: s.D, theta });
    const q = gpu.empty([N, s.Hq * s.D]), kc = gpu.upload(new Float32Array(nc).fill(-7)), vc = gpu.upload(new Float32Array(nc).fill(-9));
    decodeRopeAppend(gpu, q, kc, vc, gpu.upload(qkv), gpu.upload(pos), gpu.upload(start), tables, s);
    return { gpu, tables, q: await gpu.read(q), kc: await gpu.read(kc), vc: await gpu.read(vc) };
  }

  it("matches the reference, NaN past the rope table and drops past the cache included", async () => {
    const got = await fused();
    const q = new Float64Array(N * s.Hq * s.D), kc = new Float64Array(nc).fill(-7), vc = new Float64Array(nc).fill(-9);
    decodeRopeAppendRef(q, kc, vc, f64(qkv), pos, start, { ...s, theta, maxPos });
    expectClose(got.q, q, 1e-5, 1e-5, "q");
    expectClose(got.kc, kc, 1e-5, 1e-5, "k cache");
    expectClose(got.vc, vc, 0, 0, "v cache");
    const rowQ = s.Hq * s.D;
    expect(got.q.subarray(5 * rowQ).every(Number.isNaN)).toBe(true); // row 2's token at position 12
    expect(got.q.subarray(0, 5 * rowQ).every(Number.isFinite)).toBe(true);
    expect(got.kc.filter((x) => x === -7).length).toBe(nc - 5 * s.Hkv * s.D); // 5 of 6 tokens fit
  });

  it("equals ropeForward on q and k plus appendKV bit for bit", async () => {
    const { gpu, tables, ...got } = await fused();
    const part = (c0: number, c1: number) => gpu.upload(columns(qkv, N, W, c0, c1));
    const HqD = s.Hq * s.D, HkvD = s.Hkv * s.D;
    const q = part(0, HqD), k = part(HqD, HqD + HkvD), v = part(HqD + HkvD, W), tpos = gpu.upload(pos);
    const kc = gpu.upload(new Float32Array(nc).fill(-7)), vc = gpu.upload(new Float32Array(nc).fill(-9));
    ropeForward(gpu, q, q, tpos, tables, { B: s.B, T: s.Tq, H: s.Hq, D: s.D });
    ropeForward(gpu, k, k, tpos, tables, { B: s.B, T: s.Tq, H: s.Hkv, D: s.D });
    appendKV(gpu, kc, vc, k, v, gpu.upload(start), s);
    expect(Array.from(got.q)).toEqual(Array.from(await gpu.read(q)));
    expect(Array.from(got.kc)).toEqual(Array.from(await gpu.read(kc)));
    expect(Array.from(got.vc)).toEqual(Array.from(await gpu.read(vc)));
  });

  it("names the buffer of the wrong size", async () => {
    const gpu = await testGpu();
    const tables = createRopeTables(gpu, { maxPos, D: s.D, theta });
    const short = gpu.empty([N * W - 1], "short qkv");
    expect(() => decodeRopeAppend(gpu, gpu.empty([N * s.Hq * s.D]), gpu.empty([nc]), gpu.empty([nc]), short, gpu.upload(pos), gpu.upload(start), tables, s))
      .toThrow(`decodeRopeAppend: 'qkv' (short qkv) has ${N * W - 1} elements, expected ${N * W}`);
  });
});

describe("decodeAddRmsnorm", () => {
  const N = 7, C = 12, eps = 1e-6;
  const x = randArray(N * C, 41, -2, 2), t = randArray(N * C, 42, -2, 2), w = randArray(C, 43, 0.5, 1.5);
  for (let c = 0; c < C; c++) { x[C + c] = 0; t[C + c] = 0; } // row 1 all zero: rstd = 1/sqrt(eps)
  x[2 * C + 3] = 3e19; // row 2: sum of squares overflows, rstd 0, out 0
  t[3 * C + 5] = NaN; // row 3: NaN throughout
  t[4 * C + 1] = Infinity; // row 4: inf * 0 = NaN there, 0 elsewhere

  it("matches the reference on zero, overflowing, NaN and infinite rows", async () => {
    const gpu = await testGpu();
    const tx = gpu.upload(x), out = gpu.empty([N, C]), rstd = gpu.empty([N]);
    decodeAddRmsnorm(gpu, tx, out, rstd, gpu.upload(t), gpu.upload(w), { N, C, eps });
    const rx = f64(x), ro = new Float64Array(N * C), rr = new Float64Array(N);
    decodeAddRmsnormRef(rx, ro, rr, f64(t), f64(w), N, C, eps);
    expectClose(await gpu.read(tx), rx, 0, 1e-7, "x");
    const got = await gpu.read(out), gr = await gpu.read(rstd);
    // Row 2's sum of squares overflows fp32 (not the float64 reference): rstd 0 and a zero row, as HF in fp32.
    expect(gr[2]).toBe(0);
    expect(got.subarray(2 * C, 3 * C).every((v) => v === 0)).toBe(true); // +0 or -0 by sign of x
    ro.fill(0, 2 * C, 3 * C);
    rr[2] = 0;
    expectClose(got, ro, 1e-6, 1e-5, "out");
    expectClose(gr.subarray(0, 3), rr.subarray(0, 3), 1e-6, 1e-5, "rstd");
    expect(Number.isNaN(gr[3]!)).toBe(true);
    // Row 4: inf * rstd 0 = NaN at the infinite element, +-0 elsewhere.
    expect(Array.from(got.subarray(4 * C, 5 * C), (v) => (Number.isNaN(v) ? "NaN" : Math.abs(v)))).toEqual(Array.from({ length: C }, (_, c) => (c === 1 ? "NaN" : 0)));
  });

  it("equals accumulate + rmsnormForward ('lane') bit for bit", async () => {
    const gpu = await testGpu();
    const a = gpu.upload(x), b = gpu.upload(x), tt = gpu.upload(t), tw = gpu.upload(w);
    const o1 = gpu.empty([N, C]), o2 = gpu.empty([N, C]), r1 = gpu.empty([N]), r2 = gpu.empty([N]);
    decodeAddRmsnorm(gpu, a, o1, r1, tt, tw, { N, C, eps });
    accumulate(gpu, b, tt);
    rmsnormForward(gpu, o2, r2, b, tw, { N, C, eps, schedule: "lane" });
    expect(Array.from(await gpu.read(o1))).toEqual(Array.from(await gpu.read(o2)));
    expect(Array.from(await gpu.read(r1))).toEqual(Array.from(await gpu.read(r2)));
    expect(Array.from(await gpu.read(a))).toEqual(Array.from(await gpu.read(b)));
  });

  it("rejects rows that are not whole vec4s", async () => {
    const gpu = await testGpu();
    const m = gpu.empty([6]);
    expect(() => decodeAddRmsnorm(gpu, m, m, gpu.empty([1]), m, m, { N: 1, C: 6, eps })).toThrow("decodeAddRmsnorm: N=1 must be a positive integer and C=6 a positive multiple of 4");
  });
});

describe("decodeSwigluPacked", () => {
  const N = 5, F = 7;
  const gu = randArray(N * 2 * F, 51, -6, 6);
  gu.set([Infinity, -Infinity, NaN, 1e4, -1e4], 0); // gate edge values in row 0
  gu[F + 5] = Infinity; // an infinite up value (row 0, column 5)

  it("matches the reference, infinities and NaN included", async () => {
    const gpu = await testGpu();
    const out = gpu.empty([N, F]);
    decodeSwigluPacked(gpu, out, gpu.upload(gu), { N, F });
    const ref = new Float64Array(N * F);
    decodeSwigluPackedRef(ref, f64(gu), N, F);
    expectClose(await gpu.read(out), ref, 1e-6, 1e-5);
  });

  it("equals swigluForward on the two halves bit for bit", async () => {
    const gpu = await testGpu();
    const out = gpu.empty([N, F]), want = gpu.empty([N, F]);
    decodeSwigluPacked(gpu, out, gpu.upload(gu), { N, F });
    swigluForward(gpu, want, gpu.upload(columns(gu, N, 2 * F, 0, F)), gpu.upload(columns(gu, N, 2 * F, F, 2 * F)));
    const a = Array.from(await gpu.read(out)), b = Array.from(await gpu.read(want));
    expect(a).toEqual(b);
    expect(a.slice(0, 5).map((v) => (Number.isNaN(v) ? "NaN" : v))).toEqual(b.slice(0, 5).map((v) => (Number.isNaN(v) ? "NaN" : v)));
  });
});
