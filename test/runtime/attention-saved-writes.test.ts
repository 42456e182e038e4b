// What the subgroup schedule's saved-P forward writes (attention-sg.ts): att only where the
// backward reads it (keys j <= t of the queries it computes), and with keep false (a forward
// with no backward after it) not the probabilities at all. Both must change no output bit:
// out against the lane schedule (whose kernels are unchanged and still write every entry) and
// between keep and no-keep; att's defined entries against the lane schedule's; the entries it
// must not write still hold the NaN they started with; and a backward on that NaN-filled att
// (datt NaN too) gives every gradient finite and with the bits of the same backward on the
// lane forward's zero-filled att, so a reader touching an unwritten entry fails here. Sizes
// are not multiples of the 32-row tile or the 8-key chunk; G 1, 2, 4; D 4 to 32; query
// offsets 0, mid-tile, T - 1, T and past T.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { type AttentionSchedule, type AttentionSizes, attentionBackward, attentionForward } from "../../runtime/engine/ops/attention.js";
import { attentionBackwardRef, attentionForwardRef } from "../../runtime/engine/ops/attention.ref.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import { attDefined, definedAtt } from "../helpers/attention.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, f64, randArray } from "../helpers/numeric.js";

const nq = (s: AttentionSizes): number => s.B * s.T * s.Hq * s.D;
const nkv = (s: AttentionSizes): number => s.B * s.T * s.Hkv * s.D;
const na = (s: AttentionSizes): number => s.B * s.Hq * s.T * s.T;

const CASES: [AttentionSizes, number[] | undefined][] = [
  [{ B: 3, T: 45, Hq: 4, Hkv: 2, D: 16 }, [0, 17, 45]], // G 2: tiles span heads; qStart 0, mid-tile, T
  [{ B: 3, T: 45, Hq: 4, Hkv: 2, D: 16 }, undefined], // the whole-row kernel
  [{ B: 2, T: 70, Hq: 4, Hkv: 1, D: 8 }, [33, 75]], // G 4; past the first tile, past T
  [{ B: 4, T: 13, Hq: 2, Hkv: 2, D: 4 }, [0, 5, 12, 13]], // G 1, T under two chunks, T - 1
  [{ B: 2, T: 37, Hq: 2, Hkv: 1, D: 32 }, [9, 36]],
];

interface Fwd { out: Float32Array; att: Float32Array }

/** Forward with att (and out) starting as NaN. */
async function forward(gpu: Gpu, schedule: AttentionSchedule, s: AttentionSizes, x: Float32Array[], qStart: number[] | undefined, keep: boolean): Promise<Fwd> {
  const [tq, tk, tv] = x.slice(0, 3).map((a) => gpu.upload(a));
  const qs = qStart ? gpu.upload(Uint32Array.from(qStart)) : undefined;
  const out = gpu.upload(new Float32Array(nq(s)).fill(NaN)), att = gpu.upload(new Float32Array(na(s)).fill(NaN));
  attentionForward(gpu, out, att, tq!, tk!, tv!, s, schedule, qs, keep);
  const r = { out: await gpu.read(out), att: await gpu.read(att) };
  gpu.release(tq!, tk!, tv!, out, att, ...(qs ? [qs] : []));
  return r;
}

/** The subgroup backward from a given att; dq, dk, dv and datt start as NaN. */
async function backward(gpu: Gpu, s: AttentionSizes, x: Float32Array[], att: Float32Array, qStart: number[] | undefined): Promise<Float32Array[]> {
  const [tq, tk, tv, tdo] = x.map((a) => gpu.upload(a));
  const qs = qStart ? gpu.upload(Uint32Array.from(qStart)) : undefined;
  const nan = (n: number) => gpu.upload(new Float32Array(n).fill(NaN));
  const ta = gpu.upload(att), datt = nan(na(s)), dq = nan(nq(s)), dk = nan(nkv(s)), dv = nan(nkv(s));
  attentionBackward(gpu, dq, dk, dv, datt, tdo!, tq!, tk!, tv!, ta, s, "subgroup", qs);
  const r = [await gpu.read(dq), await gpu.read(dk), await gpu.read(dv)];
  gpu.release(tq!, tk!, tv!, tdo!, ta, datt, dq, dk, dv, ...(qs ? [qs] : []));
  return r;
}

const gpuForCheck = await testGpu();

describe.runIf(hasSubgroups8(gpuForCheck))("saved-P attention writes only what its backward reads", () => {
  it.each(CASES)("%o, qStart %j", async (s, qStart) => {
    const gpu = await testGpu();
    const x = [randArray(nq(s), 5 + s.T, -2, 2), randArray(nkv(s), 6 + s.T, -2, 2), randArray(nkv(s), 7 + s.T), randArray(nq(s), 8 + s.T)];
    const lane = await forward(gpu, "lane", s, x, qStart, true);
    const sg = await forward(gpu, "subgroup", s, x, qStart, true), noKeep = await forward(gpu, "subgroup", s, x, qStart, false);
    expect(sg.out).toEqual(lane.out);
    expect(noKeep.out).toEqual(lane.out);
    expect(definedAtt(sg.att, s, qStart)).toEqual(definedAtt(lane.att, s, qStart));
    // Nothing written outside: every undefined entry still holds its NaN (the lane forward wrote 0 there).
    const untouched = sg.att.every((a, i) => attDefined(i, s, qStart) === !Number.isNaN(a));
    expect(untouched).toBe(true);
    expect(lane.att.every(Number.isFinite)).toBe(true);
    // The backward on the NaN-filled att: finite, and the bits of the same backward on the lane forward's zeros.
    const fromNaN = await backward(gpu, s, x, sg.att, qStart), fromZeros = await backward(gpu, s, x, lane.att, qStart);
    for (const [i, g] of fromNaN.entries()) {
      expect(g.every(Number.isFinite), ["dq", "dk", "dv"][i]).toBe(true);
      expect(g).toEqual(fromZeros[i]);
    }
    // And the reference.
    const rout = new Float64Array(nq(s)), ratt = new Float64Array(na(s));
    const [q, k, v, dout] = x.map(f64);
    attentionForwardRef(rout, ratt, q!, k!, v!, s, qStart);
    const rg = [new Float64Array(nq(s)), new Float64Array(nkv(s)), new Float64Array(nkv(s))];
    attentionBackwardRef(rg[0]!, rg[1]!, rg[2]!, dout!, q!, k!, v!, ratt, s, qStart);
    expectClose(noKeep.out, rout, 1e-6, 1e-4, "out");
    expectClose(definedAtt(sg.att, s, qStart), ratt, 1e-6, 1e-4, "att");
    for (const [i, g] of fromNaN.entries()) expectClose(g, rg[i]!, 1e-5, 1e-4, ["dq", "dk", "dv"][i]);
  });
});
