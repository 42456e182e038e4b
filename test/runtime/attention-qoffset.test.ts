// The attention kernels' per-row query offset qStart (B) (the shared-prefix layout's,
// runtime/engine/model/shared-rows.ts): row b computes only its queries t >= qStart[b].
// Both modes (saved-P attention.ts, recompute attention-recompute.ts), every schedule the
// adapter has, against the float64 references with the same offset, on sizes that are not
// multiples of the tile (32) or the 8-key chunk, GQA and not, qStart 0, mid-tile, T - 1 and T
// (a row that computes nothing). Every output buffer starts as NaN, so the zeros the skipped
// rows must write are checked (att's skipped rows and upper triangle are unspecified and may
// keep the NaN: the backward must not read them), and q and dout are NaN at skipped rows,
// which must not leak.
// Then: on an output gradient that is 0 below the offset (as the shared layout's), the offset
// kernels give the whole-row kernels' bits at every query they compute and for dk, dv; and the
// references' backward with an offset matches finite differences.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { type AttentionSchedule, type AttentionSizes, attentionBackward, attentionForward } from "../../runtime/engine/ops/attention.js";
import type { AttentionMode } from "../../runtime/engine/ops/attention-mode.js";
import { attentionBackwardRef, attentionForwardRef } from "../../runtime/engine/ops/attention.ref.js";
import { attentionBackwardLse, attentionForwardLse } from "../../runtime/engine/ops/attention-recompute.js";
import { attentionBackwardLseRef, attentionForwardLseRef } from "../../runtime/engine/ops/attention-recompute.ref.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import { definedAtt } from "../helpers/attention.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

const nq = (s: AttentionSizes): number => s.B * s.T * s.Hq * s.D;
const nkv = (s: AttentionSizes): number => s.B * s.T * s.Hkv * s.D;
/** Elements of what forward keeps: att (B, Hq, T, T) or lse (B, Hq, T). */
const nKept = (m: AttentionMode, s: AttentionSizes): number => s.B * s.Hq * s.T * (m === "saved" ? s.T : 1);

const gpuForSchedules = await testGpu();
const SCHEDULES: AttentionSchedule[] = hasSubgroups8(gpuForSchedules) ? ["lane", "subgroup"] : ["lane"];
const MODES: AttentionMode[] = ["saved", "recompute"];

const CASES: [AttentionSizes, number[]][] = [
  [{ B: 4, T: 45, Hq: 6, Hkv: 2, D: 16 }, [0, 44, 45, 17]], // G = 3 (tiles span heads), qStart 0, T - 1, T, mid-tile
  [{ B: 3, T: 7, Hq: 4, Hkv: 4, D: 4 }, [3, 0, 7]], // G = 1, T < one chunk
  [{ B: 2, T: 70, Hq: 4, Hkv: 2, D: 16 }, [33, 69]], // past the first tile of a head, and its last query only
];

interface Inputs { q: Float32Array; k: Float32Array; v: Float32Array; dout: Float32Array }

function inputs(s: AttentionSizes, seed: number): Inputs {
  return { q: randArray(nq(s), seed, -2, 2), k: randArray(nkv(s), seed + 1, -2, 2), v: randArray(nkv(s), seed + 2), dout: randArray(nq(s), seed + 3) };
}

/** q and dout NaN at every query below its row's offset: a kernel that reads one leaks it. */
function poisonSkipped(x: Inputs, s: AttentionSizes, qStart: number[]): Inputs {
  const row = s.Hq * s.D, q = x.q.slice(), dout = x.dout.slice();
  for (let b = 0; b < s.B; b++) for (let t = 0; t < qStart[b]!; t++) for (const a of [q, dout]) a.fill(NaN, (b * s.T + t) * row, (b * s.T + t + 1) * row);
  return { ...x, q, dout };
}

interface Result { out: Float32Array | Float64Array; kept: Float32Array | Float64Array; dq: Float32Array | Float64Array; dk: Float32Array | Float64Array; dv: Float32Array | Float64Array }

function refAll(m: AttentionMode, s: AttentionSizes, x: Inputs, qStart?: number[]): Result {
  const out = new Float64Array(nq(s)), kept = new Float64Array(nKept(m, s));
  const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
  const [q, k, v, dout] = [f64(x.q), f64(x.k), f64(x.v), f64(x.dout)];
  if (m === "saved") {
    attentionForwardRef(out, kept, q, k, v, s, qStart);
    attentionBackwardRef(dq, dk, dv, dout, q, k, v, kept, s, qStart);
  } else {
    attentionForwardLseRef(out, kept, q, k, v, s, qStart);
    attentionBackwardLseRef(dq, dk, dv, dout, q, k, v, out, kept, s, qStart);
  }
  return { out, kept, dq, dk, dv };
}

/** Forward then backward on the GPU, every output and scratch buffer starting as NaN. */
async function gpuAll(gpu: Gpu, m: AttentionMode, schedule: AttentionSchedule, s: AttentionSizes, x: Inputs, qStart?: number[]): Promise<Result> {
  const nan = (n: number): Tensor => gpu.upload(new Float32Array(n).fill(NaN));
  const tq = gpu.upload(x.q), tk = gpu.upload(x.k), tv = gpu.upload(x.v), tdo = gpu.upload(x.dout);
  const qs = qStart ? gpu.upload(Uint32Array.from(qStart)) : undefined;
  const out = nan(nq(s)), kept = nan(nKept(m, s)), scratch = nan(nKept(m, s)), dq = nan(nq(s)), dk = nan(nkv(s)), dv = nan(nkv(s));
  if (m === "saved") {
    attentionForward(gpu, out, kept, tq, tk, tv, s, schedule, qs);
    attentionBackward(gpu, dq, dk, dv, scratch, tdo, tq, tk, tv, kept, s, schedule, qs);
  } else {
    attentionForwardLse(gpu, out, kept, tq, tk, tv, s, schedule, qs);
    attentionBackwardLse(gpu, dq, dk, dv, scratch, tdo, tq, tk, tv, out, kept, s, schedule, qs);
  }
  const r = { out: await gpu.read(out), kept: await gpu.read(kept), dq: await gpu.read(dq), dk: await gpu.read(dk), dv: await gpu.read(dv) };
  gpu.release(tq, tk, tv, tdo, out, kept, scratch, dq, dk, dv, ...(qs ? [qs] : []));
  return r;
}

/** The entries of a (B, T, H, D) buffer at queries t >= qStart[b] (the rest set to 0). */
function computedOnly(a: Float32Array, s: AttentionSizes, H: number, qStart: number[]): Float32Array {
  return a.map((x, i) => (Math.floor(i / (H * s.D)) % s.T >= qStart[Math.floor(i / (H * s.D * s.T))]! ? x : 0));
}

describe.each(MODES)("attention with a query offset, %s", (mode) => {
  describe.each(SCHEDULES)("schedule %s", (schedule) => {
    it.each(CASES)("matches the reference for %o, qStart %j", async (s, qStart) => {
      const gpu = await testGpu();
      const x = poisonSkipped(inputs(s, 70 + s.T), s, qStart);
      const got = await gpuAll(gpu, mode, schedule, s, x, qStart), ref = refAll(mode, s, x, qStart);
      // att is defined only on and below the diagonal of computed rows (the rest may keep its NaN).
      if (mode === "saved") got.kept = definedAtt(got.kept, s, qStart);
      for (const [name, a] of Object.entries(got)) expect(a.every(Number.isFinite), name).toBe(true);
      expectClose(got.out, ref.out, 1e-6, 1e-4, "out");
      expectClose(got.kept, ref.kept, 1e-6, 1e-4, mode === "saved" ? "att" : "lse");
      expectClose(got.dq, ref.dq, 1e-5, 1e-4, "dq");
      expectClose(got.dk, ref.dk, 1e-5, 1e-4, "dk");
      expectClose(got.dv, ref.dv, 1e-5, 1e-4, "dv");
      // A row with qStart = T computes nothing: its out and dk, dv are exactly 0.
      const empty = qStart.indexOf(s.T);
      if (empty >= 0) {
        const at = (H: number) => [empty * s.T * H * s.D, (empty + 1) * s.T * H * s.D] as const;
        expect(got.out.subarray(...at(s.Hq)).every((v) => v === 0)).toBe(true);
        expect(got.dk.subarray(...at(s.Hkv)).every((v) => v === 0)).toBe(true);
      }
    });

    it("gives the whole-row kernels' bits where it computes, when the output gradient is 0 below the offset", async () => {
      const gpu = await testGpu();
      const [s, qStart] = CASES[0]!;
      const x = inputs(s, 90);
      x.dout = computedOnly(x.dout, s, s.Hq, qStart);
      const off = await gpuAll(gpu, mode, schedule, s, x, qStart), whole = await gpuAll(gpu, mode, schedule, s, x);
      expect(off.out).toEqual(computedOnly(whole.out as Float32Array, s, s.Hq, qStart));
      expect(off.dq).toEqual(computedOnly(whole.dq as Float32Array, s, s.Hq, qStart));
      expect(off.dk).toEqual(whole.dk);
      expect(off.dv).toEqual(whole.dv);
      expect(off.dk.some((v) => v !== 0)).toBe(true);
    });
  });

  it("reference backward with an offset matches float64 finite differences", () => {
    const s = { B: 3, T: 6, Hq: 4, Hkv: 2, D: 3 }, qStart = [2, 0, 5];
    const q = f64(randArray(nq(s), 21)), k = f64(randArray(nkv(s), 22)), v = f64(randArray(nkv(s), 23)), dout = f64(randArray(nq(s), 24));
    const out = new Float64Array(nq(s)), kept = new Float64Array(nKept(mode, s));
    const forward = () => (mode === "saved" ? attentionForwardRef : attentionForwardLseRef)(out, kept, q, k, v, s, qStart);
    const loss = (): number => {
      forward();
      return dot(out, dout);
    };
    const fq = finiteDiff(loss, q, 1e-6), fk = finiteDiff(loss, k, 1e-6), fv = finiteDiff(loss, v, 1e-6);
    forward();
    const dq = new Float64Array(nq(s)), dk = new Float64Array(nkv(s)), dv = new Float64Array(nkv(s));
    if (mode === "saved") attentionBackwardRef(dq, dk, dv, dout, q, k, v, kept, s, qStart);
    else attentionBackwardLseRef(dq, dk, dv, dout, q, k, v, out, kept, s, qStart);
    expectClose(dq, fq, 1e-8, 1e-6, "dq");
    expectClose(dk, fk, 1e-8, 1e-6, "dk");
    expectClose(dv, fv, 1e-8, 1e-6, "dv");
    // The offset matters: row 2's queries 0..4 are skipped, so its first key gets only query 5's gradient.
    expect(fq.subarray(2 * s.T * s.Hq * s.D, (2 * s.T + 5) * s.Hq * s.D).every((g) => g === 0)).toBe(true);
    expect(dk.some((g) => g !== 0)).toBe(true);
  });
});

describe("attention query offset input checks", () => {
  it("names a qStart of the wrong length", async () => {
    const gpu = await testGpu();
    const s = { B: 2, T: 3, Hq: 2, Hkv: 1, D: 4 };
    const q = gpu.empty([nq(s)]), kv = gpu.empty([nkv(s)]), att = gpu.empty([nKept("saved", s)]), qs = gpu.upload(Uint32Array.of(0, 1, 2));
    expect(() => attentionForward(gpu, q, att, q, kv, kv, s, undefined, qs)).toThrow(/attentionForward: 'qStart' .* has 3 elements, expected 2/);
    gpu.release(q, kv, att, qs);
  });
});
