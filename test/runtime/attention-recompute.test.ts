// The recompute attention (runtime/engine/ops/attention-recompute.ts: out and lse forward,
// scores recomputed in backward) against its float64 reference, in both schedules, on sizes
// that are not multiples of the tile or the 8-key chunk, G = 1 and G > 1, D = 4 and 64; the
// reference against finite differences and against the saved-P reference; the GPU kernels
// against the saved-P kernels (attention.ts) on the same inputs.
import { describe, expect, it } from "vitest";
import { type AttentionSchedule, type AttentionSizes, attentionBackward, attentionForward } from "../../runtime/engine/ops/attention.js";
import { attentionBackwardRef, attentionForwardRef } from "../../runtime/engine/ops/attention.ref.js";
import { attentionBackwardLse, attentionForwardLse } from "../../runtime/engine/ops/attention-recompute.js";
import { attentionBackwardLseRef, attentionForwardLseRef } from "../../runtime/engine/ops/attention-recompute.ref.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

const nq = (s: AttentionSizes): number => s.B * s.T * s.Hq * s.D;
const nkv = (s: AttentionSizes): number => s.B * s.T * s.Hkv * s.D;
const nr = (s: AttentionSizes): number => s.B * s.Hq * s.T;
const na = (s: AttentionSizes): number => s.B * s.Hq * s.T * s.T;

const gpuForSchedules = await testGpu();
const SCHEDULES: AttentionSchedule[] = hasSubgroups8(gpuForSchedules) ? ["lane", "subgroup"] : ["lane"];

const SIZES: AttentionSizes[] = [
  { B: 1, T: 1, Hq: 1, Hkv: 1, D: 4 },
  { B: 3, T: 7, Hq: 6, Hkv: 2, D: 4 }, // G = 3, T < one chunk of 8 keys
  { B: 2, T: 45, Hq: 3, Hkv: 3, D: 16 }, // G = 1, T not a multiple of the tile (32) or the chunk (8)
  { B: 1, T: 70, Hq: 8, Hkv: 2, D: 64 }, // G = 4: tiles span two heads of a group
];

interface Inputs { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array }

function inputs(s: AttentionSizes, seed: number, range = 2): Inputs {
  return { q: randArray(nq(s), seed, -range, range), k: randArray(nkv(s), seed + 1, -range, range), v: randArray(nkv(s), seed + 2), dout: randArray(nq(s), seed + 3) };
}

function refAll(s: AttentionSizes, x: Inputs) {
  const out = new Float64Array(nq(s)), lse = new Float64Array(nr(s));
  attentionForwardLseRef(out, lse, f64(x.q), f64(x.k), f64(x.v), s);
  const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
  attentionBackwardLseRef(dq, dk, dv, f64(x.dout), f64(x.q), f64(x.k), f64(x.v), out, lse, s);
  return { out, lse, dq, dk, dv };
}

/** Forward then backward on the GPU; delta starts as NaN garbage, which must not leak. */
async function gpuAll(s: AttentionSizes, x: Inputs, schedule: AttentionSchedule) {
  const gpu = await testGpu();
  const tq = gpu.upload(x.q), tk = gpu.upload(x.k), tv = gpu.upload(x.v), tdo = gpu.upload(x.dout);
  const out = gpu.empty([nq(s)]), lse = gpu.empty([nr(s)]), delta = gpu.upload(new Float32Array(nr(s)).fill(NaN));
  const dq = gpu.empty([nq(s)]), dk = gpu.empty([nkv(s)]), dv = gpu.empty([nkv(s)]);
  attentionForwardLse(gpu, out, lse, tq, tk, tv, s, schedule);
  attentionBackwardLse(gpu, dq, dk, dv, delta, tdo, tq, tk, tv, out, lse, s, schedule);
  const first = { out: await gpu.read(out), lse: await gpu.read(lse), dq: await gpu.read(dq), dk: await gpu.read(dk), dv: await gpu.read(dv) };
  // Deterministic: the backward again gives bit-identical gradients.
  attentionBackwardLse(gpu, dq, dk, dv, delta, tdo, tq, tk, tv, out, lse, s, schedule);
  const again = [await gpu.read(dq), await gpu.read(dk), await gpu.read(dv)];
  gpu.release(tq, tk, tv, tdo, out, lse, delta, dq, dk, dv);
  return { ...first, again };
}

describe("recompute attention reference", () => {
  it("backward matches float64 finite differences (GQA, irregular T)", () => {
    const s = { B: 2, T: 5, Hq: 4, Hkv: 2, D: 3 };
    const q = f64(randArray(nq(s), 11)), k = f64(randArray(nkv(s), 12)), v = f64(randArray(nkv(s), 13)), dout = f64(randArray(nq(s), 14));
    const out = new Float64Array(nq(s)), lse = new Float64Array(nr(s));
    const loss = (): number => {
      attentionForwardLseRef(out, lse, q, k, v, s);
      return dot(out, dout);
    };
    const fq = finiteDiff(loss, q, 1e-6), fk = finiteDiff(loss, k, 1e-6), fv = finiteDiff(loss, v, 1e-6);
    attentionForwardLseRef(out, lse, q, k, v, s);
    const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
    attentionBackwardLseRef(dq, dk, dv, dout, q, k, v, out, lse, s);
    expectClose(dq, fq, 1e-8, 1e-6, "dq");
    expectClose(dk, fk, 1e-8, 1e-6, "dk");
    expectClose(dv, fv, 1e-8, 1e-6, "dv");
  });

  it("agrees with the saved-P reference: same out and gradients, exp(s - lse) = att", () => {
    const s = { B: 2, T: 9, Hq: 6, Hkv: 2, D: 4 };
    const x = inputs(s, 15);
    const r = refAll(s, x);
    const out = new Float64Array(nq(s)), att = new Float64Array(na(s));
    attentionForwardRef(out, att, f64(x.q), f64(x.k), f64(x.v), s);
    const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
    attentionBackwardRef(dq, dk, dv, f64(x.dout), f64(x.q), f64(x.k), f64(x.v), att, s);
    expectClose(r.out, out, 1e-12, 1e-10, "out");
    expectClose(r.dq, dq, 1e-12, 1e-10, "dq");
    expectClose(r.dk, dk, 1e-12, 1e-10, "dk");
    expectClose(r.dv, dv, 1e-12, 1e-10, "dv");
    // Row (b 1, h 5, t 8): its probabilities sum to one through lse.
    const row = ((1 * s.Hq + 5) * s.T + 8) * s.T;
    expect(att.subarray(row, row + 9).reduce((a, p) => a + p, 0)).toBeCloseTo(1, 12);
  });
});

describe.each(SCHEDULES)("recompute attention, schedule %s", (schedule) => {
  it.each(SIZES)("forward and backward match the reference for %o", async (s) => {
    const x = inputs(s, 20 + s.T);
    const got = await gpuAll(s, x, schedule), ref = refAll(s, x);
    expectClose(got.out, ref.out, 1e-6, 1e-4, "out");
    expectClose(got.lse, ref.lse, 1e-6, 1e-5, "lse");
    expectClose(got.dq, ref.dq, 1e-5, 1e-4, "dq");
    expectClose(got.dk, ref.dk, 1e-5, 1e-4, "dk");
    expectClose(got.dv, ref.dv, 1e-5, 1e-4, "dv");
    expect(got.again).toEqual([got.dq, got.dk, got.dv]);
  });

  it("large scores: the online softmax neither overflows nor loses the peak", async () => {
    const s = { B: 2, T: 19, Hq: 4, Hkv: 2, D: 16 };
    // |q.k| * scale up to ~3600, rising along the row, so the running max moves chunk after chunk.
    const x = inputs(s, 40, 30);
    const got = await gpuAll(s, x, schedule), ref = refAll(s, x);
    for (const [name, a] of Object.entries({ out: got.out, lse: got.lse, dq: got.dq, dk: got.dk, dv: got.dv })) expect(a.every(Number.isFinite), name).toBe(true);
    // fp32 scores near 3600 carry ~2e-4 absolute rounding, which moves the probabilities by as much.
    expectClose(got.lse, ref.lse, 2e-3, 1e-6, "lse");
    expectClose(got.out, ref.out, 2e-3, 2e-3, "out");
    expectClose(got.dv, ref.dv, 2e-3, 2e-3, "dv");
    expectClose(got.dq, ref.dq, 5e-2, 2e-3, "dq"); // ds = scale p (dp - delta) with p ~ 1 - 1e-4: dq ~ |q| * rounding
    expectClose(got.dk, ref.dk, 5e-2, 2e-3, "dk");
  });

  it("keeps NaN and inf in future keys, values and upstream gradients causal", async () => {
    const s = { B: 2, T: 21, Hq: 6, Hkv: 3, D: 16 };
    const x = inputs(s, 50);
    const kvAt = (b: number, t: number, kvh: number): number => ((b * s.T + t) * s.Hkv + kvh) * s.D;
    x.k[kvAt(0, 9, 1) + 3] = NaN; // batch 0, kv head 1: rows t >= 9 of heads 2, 3 turn NaN
    x.v[kvAt(0, 14, 1) + 5] = Infinity;
    x.dout[((1 * s.T + 12) * s.Hq + 0) * s.D + 1] = NaN; // batch 1, t 12, head 0: dq there, dk/dv of kv 0 at j <= 12
    const got = await gpuAll(s, x, schedule), ref = refAll(s, x);
    for (let t = 0; t < s.T; t++) {
      for (let h = 0; h < s.Hq; h++) {
        const at = ((0 * s.T + t) * s.Hq + h) * s.D;
        expect(got.out.subarray(at, at + s.D).every(Number.isFinite), `out b0 t${t} h${h}`).toBe(!(Math.floor(h / 2) === 1 && t >= 9));
      }
      const dvRow = kvAt(1, t, 0);
      expect(got.dv.subarray(dvRow, dvRow + s.D).some(Number.isNaN), `dv b1 t${t}`).toBe(t <= 12);
    }
    expectClose(got.out, ref.out, 1e-6, 1e-4, "out");
    expectClose(got.dq, ref.dq, 1e-5, 1e-4, "dq");
    expectClose(got.dk, ref.dk, 1e-5, 1e-4, "dk");
    expectClose(got.dv, ref.dv, 1e-5, 1e-4, "dv");
  });

  it("gives the saved-P kernels' numbers (attention.ts) on the same inputs", async () => {
    const gpu = await testGpu();
    const s = { B: 2, T: 50, Hq: 6, Hkv: 2, D: 16 };
    const x = inputs(s, 60);
    const got = await gpuAll(s, x, schedule);
    const tq = gpu.upload(x.q), tk = gpu.upload(x.k), tv = gpu.upload(x.v), tdo = gpu.upload(x.dout);
    const out = gpu.empty([nq(s)]), att = gpu.empty([na(s)]), datt = gpu.empty([na(s)]);
    const dq = gpu.empty([nq(s)]), dk = gpu.empty([nkv(s)]), dv = gpu.empty([nkv(s)]);
    attentionForward(gpu, out, att, tq, tk, tv, s, schedule);
    attentionBackward(gpu, dq, dk, dv, datt, tdo, tq, tk, tv, att, s, schedule);
    expectClose(got.out, await gpu.read(out), 1e-6, 1e-5, "out");
    expectClose(got.dq, await gpu.read(dq), 1e-6, 1e-4, "dq");
    expectClose(got.dk, await gpu.read(dk), 1e-6, 1e-4, "dk");
    expectClose(got.dv, await gpu.read(dv), 1e-6, 1e-4, "dv");
    gpu.release(tq, tk, tv, tdo, out, att, datt, dq, dk, dv);
  });
});

describe("recompute attention input checks", () => {
  it("names the buffer whose size is wrong", async () => {
    const gpu = await testGpu();
    const s = { B: 1, T: 3, Hq: 2, Hkv: 1, D: 4 };
    const q = gpu.empty([nq(s)]), kv = gpu.empty([nkv(s)]), lse = gpu.empty([nr(s) + 1], "lse");
    expect(() => attentionForwardLse(gpu, q, lse, q, kv, kv, s)).toThrow(/attentionForwardLse: 'lse' \(lse\) has 7 elements, expected 6/);
    gpu.release(q, kv, lse);
  });
});
