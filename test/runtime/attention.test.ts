import { describe, expect, it } from "vitest";
import { type AttentionSizes, attentionBackward, attentionForward } from "../../runtime/engine/ops/attention.js";
import { attentionBackwardRef, attentionForwardRef } from "../../runtime/engine/ops/attention.ref.js";
import { definedAtt } from "../helpers/attention.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

const nq = (s: AttentionSizes): number => s.B * s.T * s.Hq * s.D;
const nkv = (s: AttentionSizes): number => s.B * s.T * s.Hkv * s.D;
const na = (s: AttentionSizes): number => s.B * s.Hq * s.T * s.T;

async function gpuForward(s: AttentionSizes, q: Float32Array, k: Float32Array, v: Float32Array): Promise<{ out: Float32Array; att: Float32Array }> {
  const gpu = await testGpu();
  const tq = gpu.upload(q, [s.B, s.T, s.Hq, s.D], "q"), tk = gpu.upload(k, [s.B, s.T, s.Hkv, s.D], "k"), tv = gpu.upload(v, [s.B, s.T, s.Hkv, s.D], "v");
  const out = gpu.empty([s.B, s.T, s.Hq, s.D], "out"), att = gpu.empty([s.B, s.Hq, s.T, s.T], "att");
  attentionForward(gpu, out, att, tq, tk, tv, s);
  const res = { out: await gpu.read(out), att: definedAtt(await gpu.read(att), s) }; // above the diagonal: unspecified
  gpu.release(tq, tk, tv, out, att);
  return res;
}

function refForward(s: AttentionSizes, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>): { out: Float64Array; att: Float64Array } {
  const out = new Float64Array(nq(s)), att = new Float64Array(na(s));
  attentionForwardRef(out, att, f64(q), f64(k), f64(v), s);
  return { out, att };
}

const SIZES: AttentionSizes[] = [
  { B: 1, T: 1, Hq: 1, Hkv: 1, D: 16 },
  { B: 3, T: 7, Hq: 6, Hkv: 2, D: 16 },
  { B: 2, T: 33, Hq: 4, Hkv: 4, D: 24 },
  { B: 2, T: 45, Hq: 8, Hkv: 1, D: 64 },
  { B: 1, T: 160, Hq: 4, Hkv: 2, D: 24 }, // D = 32 would add ~10 s of cold shader compilation
];

describe("attention forward", () => {
  it.each(SIZES)("matches the reference for %o", async (s) => {
    const q = randArray(nq(s), 1 + s.T, -2, 2), k = randArray(nkv(s), 2 + s.T, -2, 2), v = randArray(nkv(s), 3 + s.T);
    const got = await gpuForward(s, q, k, v);
    const ref = refForward(s, q, k, v);
    expectClose(got.out, ref.out, 1e-6, 1e-4, "out");
    expectClose(got.att, ref.att, 1e-7, 1e-4, "att");
  });

  it("stays finite and accurate for large logits", async () => {
    const s = { B: 2, T: 9, Hq: 4, Hkv: 2, D: 16 };
    // |q.k| * scale up to ~3600: exp would overflow without the max subtraction.
    const q = randArray(nq(s), 5, -30, 30), k = randArray(nkv(s), 6, -30, 30), v = randArray(nkv(s), 7);
    const got = await gpuForward(s, q, k, v);
    expect(got.out.every(Number.isFinite)).toBe(true);
    // fp32 scores near 3600 carry ~2e-4 absolute rounding, which moves the probabilities by as much.
    const ref = refForward(s, q, k, v);
    expectClose(got.att, ref.att, 2e-3, 2e-3, "att");
    expectClose(got.out, ref.out, 2e-3, 2e-3, "out");
  });

  it("keeps NaN and inf in future keys/values out of earlier rows", async () => {
    const s = { B: 2, T: 37, Hq: 6, Hkv: 3, D: 16 };
    const q = randArray(nq(s), 8), k = randArray(nkv(s), 9), v = randArray(nkv(s), 10);
    // Batch 0, kv head 1: NaN key at t = 20, inf value at t = 30.
    const kvAt = (b: number, t: number, kvh: number): number => ((b * s.T + t) * s.Hkv + kvh) * s.D;
    k[kvAt(0, 20, 1) + 3] = NaN;
    v[kvAt(0, 30, 1) + 5] = Infinity;
    const got = await gpuForward(s, q, k, v);
    for (let t = 0; t < s.T; t++) {
      for (let h = 0; h < s.Hq; h++) {
        const row = got.out.subarray(((0 * s.T + t) * s.Hq + h) * s.D, ((0 * s.T + t) * s.Hq + h + 1) * s.D);
        const inGroup = Math.floor(h / 2) === 1;
        const finite = row.every(Number.isFinite);
        expect(finite, `b0 t${t} h${h}`).toBe(!(inGroup && t >= 20));
      }
    }
    // Batch 1 is untouched.
    const ref = refForward({ ...s, B: 1 }, q.subarray(nq(s) / 2), k.subarray(nkv(s) / 2), v.subarray(nkv(s) / 2));
    expectClose(got.out.subarray(nq(s) / 2), ref.out, 1e-6, 1e-4);
  });
});

describe("attention backward", () => {
  it("reference backward matches float64 finite differences (GQA, irregular T)", () => {
    const s = { B: 2, T: 5, Hq: 4, Hkv: 2, D: 3 };
    const q = f64(randArray(nq(s), 11)), k = f64(randArray(nkv(s), 12)), v = f64(randArray(nkv(s), 13));
    const dout = f64(randArray(nq(s), 14));
    const out = new Float64Array(nq(s)), att = new Float64Array(na(s));
    const loss = (): number => {
      attentionForwardRef(out, att, q, k, v, s);
      return dot(out, dout);
    };
    const fq = finiteDiff(loss, q, 1e-6), fk = finiteDiff(loss, k, 1e-6), fv = finiteDiff(loss, v, 1e-6);
    attentionForwardRef(out, att, q, k, v, s);
    const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
    attentionBackwardRef(dq, dk, dv, dout, q, k, v, att, s);
    expectClose(dq, fq, 1e-8, 1e-6, "dq");
    expectClose(dk, fk, 1e-8, 1e-6, "dk");
    expectClose(dv, fv, 1e-8, 1e-6, "dv");
  });

  it.each(SIZES)("GPU matches the reference for %o", async (s) => {
    const gpu = await testGpu();
    const q = randArray(nq(s), 21 + s.T, -2, 2), k = randArray(nkv(s), 22 + s.T, -2, 2), v = randArray(nkv(s), 23 + s.T);
    const dout = randArray(nq(s), 24 + s.T);
    const { att } = refForward(s, q, k, v);
    const t = {
      q: gpu.upload(q, [s.B, s.T, s.Hq, s.D], "q"),
      k: gpu.upload(k, [s.B, s.T, s.Hkv, s.D], "k"),
      v: gpu.upload(v, [s.B, s.T, s.Hkv, s.D], "v"),
      dout: gpu.upload(dout, [s.B, s.T, s.Hq, s.D], "dout"),
      att: gpu.upload(Float32Array.from(att), [s.B, s.Hq, s.T, s.T], "att"),
      dq: gpu.empty([s.B, s.T, s.Hq, s.D], "dq"),
      dk: gpu.empty([s.B, s.T, s.Hkv, s.D], "dk"),
      dv: gpu.empty([s.B, s.T, s.Hkv, s.D], "dv"),
      datt: gpu.upload(new Float32Array(na(s)).fill(NaN), [s.B, s.Hq, s.T, s.T], "datt"), // garbage scratch must not leak
    };
    attentionBackward(gpu, t.dq, t.dk, t.dv, t.datt, t.dout, t.q, t.k, t.v, t.att, s);
    const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
    attentionBackwardRef(dq, dk, dv, f64(dout), f64(q), f64(k), f64(v), att, s);
    expectClose(await gpu.read(t.dq), dq, 1e-5, 1e-4, "dq");
    expectClose(await gpu.read(t.dk), dk, 1e-5, 1e-4, "dk");
    expectClose(await gpu.read(t.dv), dv, 1e-5, 1e-4, "dv");
    // Deterministic: a second run gives bit-identical gradients.
    const first = [await gpu.read(t.dq), await gpu.read(t.dk), await gpu.read(t.dv)];
    attentionBackward(gpu, t.dq, t.dk, t.dv, t.datt, t.dout, t.q, t.k, t.v, t.att, s);
    expect([await gpu.read(t.dq), await gpu.read(t.dk), await gpu.read(t.dv)]).toEqual(first);
    gpu.release(...Object.values(t));
  });

  it("forward then backward on the GPU agrees with the reference end to end, NaN stays causal", async () => {
    const gpu = await testGpu();
    const s = { B: 3, T: 12, Hq: 6, Hkv: 2, D: 24 };
    const q = randArray(nq(s), 31), k = randArray(nkv(s), 32), v = randArray(nkv(s), 33), dout = randArray(nq(s), 34);
    // A NaN upstream gradient at batch 2, t = 8, head 0 must reach only dq at that row, and
    // dk/dv of kv head 0 at positions <= 8 of batch 2.
    dout[((2 * s.T + 8) * s.Hq + 0) * s.D + 1] = NaN;
    const tq = gpu.upload(q), tk = gpu.upload(k), tv = gpu.upload(v), tdo = gpu.upload(dout);
    const out = gpu.empty([nq(s)]), att = gpu.empty([na(s)]), datt = gpu.empty([na(s)]);
    const dq = gpu.empty([nq(s)]), dk = gpu.empty([nkv(s)]), dv = gpu.empty([nkv(s)]);
    attentionForward(gpu, out, att, tq, tk, tv, s);
    attentionBackward(gpu, dq, dk, dv, datt, tdo, tq, tk, tv, att, s);
    const ref = refForward(s, q, k, v);
    const rdq = new Float64Array(nq(s)), rdk = new Float64Array(nkv(s)), rdv = new Float64Array(nkv(s));
    attentionBackwardRef(rdq, rdk, rdv, f64(dout), f64(q), f64(k), f64(v), ref.att, s);
    expectClose(await gpu.read(out), ref.out, 1e-6, 1e-4, "out");
    expectClose(await gpu.read(dq), rdq, 1e-5, 1e-4, "dq");
    const gdk = await gpu.read(dk), gdv = await gpu.read(dv);
    expectClose(gdk, rdk, 1e-5, 1e-4, "dk");
    expectClose(gdv, rdv, 1e-5, 1e-4, "dv");
    for (let t = 0; t < s.T; t++) {
      const row = ((2 * s.T + t) * s.Hkv + 0) * s.D;
      expect(gdv.subarray(row, row + s.D).some(Number.isNaN), `dv b2 t${t}`).toBe(t <= 8);
    }
    gpu.release(tq, tk, tv, tdo, out, att, datt, dq, dk, dv);
  });
});
