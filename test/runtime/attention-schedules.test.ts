// Both attention schedules ("lane", and "subgroup" where the adapter has 8-lane subgroups)
// run explicitly, whatever the adapter's default, forward then backward against the
// reference: partial chunks of 8 keys (T < 8, T not a multiple of 8), tiles that span two
// query heads of a GQA group, lanes past the last row, and NaN/inf kept causal.
import { describe, expect, it } from "vitest";
import { type AttentionSchedule, type AttentionSizes, attentionBackward, attentionForward } from "../../runtime/engine/ops/attention.js";
import { attentionBackwardRef, attentionForwardRef } from "../../runtime/engine/ops/attention.ref.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import { definedAtt } from "../helpers/attention.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, f64, randArray } from "../helpers/numeric.js";

const gpuForSchedules = await testGpu();
const SCHEDULES: AttentionSchedule[] = hasSubgroups8(gpuForSchedules) ? ["lane", "subgroup"] : ["lane"];
const SIZES: AttentionSizes[] = [
  { B: 3, T: 7, Hq: 6, Hkv: 2, D: 16 },
  { B: 2, T: 41, Hq: 4, Hkv: 2, D: 16 },
];

const nq = (s: AttentionSizes): number => s.B * s.T * s.Hq * s.D;
const nkv = (s: AttentionSizes): number => s.B * s.T * s.Hkv * s.D;
const na = (s: AttentionSizes): number => s.B * s.Hq * s.T * s.T;

describe.each(SCHEDULES)("attention schedule %s", (schedule) => {
  it.each(SIZES)("forward and backward match the reference for %o", async (s) => {
    const gpu = await testGpu();
    const q = randArray(nq(s), 41 + s.T, -2, 2), k = randArray(nkv(s), 42 + s.T, -2, 2), v = randArray(nkv(s), 43 + s.T);
    const dout = randArray(nq(s), 44 + s.T);
    // Batch 0, kv head 1: NaN key at t = 5 and inf value at t = 6 reach only rows t >= 5 of that group.
    const kvAt = (b: number, t: number, kvh: number): number => ((b * s.T + t) * s.Hkv + kvh) * s.D;
    k[kvAt(0, 5, 1) + 3] = NaN;
    v[kvAt(0, 6, 1) + 2] = Infinity;
    const tq = gpu.upload(q), tk = gpu.upload(k), tv = gpu.upload(v), tdo = gpu.upload(dout);
    const out = gpu.empty([nq(s)]), att = gpu.empty([na(s)]), datt = gpu.upload(new Float32Array(na(s)).fill(NaN));
    const dq = gpu.empty([nq(s)]), dk = gpu.empty([nkv(s)]), dv = gpu.empty([nkv(s)]);
    attentionForward(gpu, out, att, tq, tk, tv, s, schedule);
    attentionBackward(gpu, dq, dk, dv, datt, tdo, tq, tk, tv, att, s, schedule);
    const rout = new Float64Array(nq(s)), ratt = new Float64Array(na(s));
    attentionForwardRef(rout, ratt, f64(q), f64(k), f64(v), s);
    const rdq = new Float64Array(nq(s)), rdk = new Float64Array(nkv(s)), rdv = new Float64Array(nkv(s));
    attentionBackwardRef(rdq, rdk, rdv, f64(dout), f64(q), f64(k), f64(v), ratt, s);
    const gout = await gpu.read(out);
    for (let t = 0; t < s.T; t++) {
      for (let h = 0; h < s.Hq; h++) {
        const row = gout.subarray(((0 * s.T + t) * s.Hq + h) * s.D, ((0 * s.T + t) * s.Hq + h + 1) * s.D);
        const poisoned = Math.floor(h / (s.Hq / s.Hkv)) === 1 && t >= 5;
        expect(row.every(Number.isFinite), `b0 t${t} h${h}`).toBe(!poisoned);
      }
    }
    expectClose(gout, rout, 1e-6, 1e-4, "out");
    expectClose(definedAtt(await gpu.read(att), s), ratt, 1e-6, 1e-4, "att");
    expectClose(await gpu.read(dq), rdq, 1e-5, 1e-4, "dq");
    expectClose(await gpu.read(dk), rdk, 1e-5, 1e-4, "dk");
    expectClose(await gpu.read(dv), rdv, 1e-5, 1e-4, "dv");
    gpu.release(tq, tk, tv, tdo, out, att, datt, dq, dk, dv);
  });
});
