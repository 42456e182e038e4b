// The sampler's two schedules ("workgroup", and "subgroup" where the adapter has 8-lane
// subgroups) run explicitly on the same rows: the subgroup schedule must give the same bits
// (ids, logp, entropy) as the 64-lane kernel, and both must agree with the reference. Sizes
// around the 64 virtual lanes (1, 7, 64, 65, 108, 1000, 32000), padded row strides, strided
// outputs, a row offset, and rows that are all NaN, all -inf, or tied at the maximum.
// (32000 only bitwise: sample.test.ts checks a 50,000-token row against the reference.)
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import { type SampleSchedule, sampleSchedule, sampleTokens } from "../../runtime/engine/ops/sample.js";
import { sampleRowRef } from "../../runtime/engine/ops/sample.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { randArray } from "../helpers/numeric.js";

const gpuForSchedules = await testGpu();
const SUBGROUPS = hasSubgroups8(gpuForSchedules);
const SCHEDULES: SampleSchedule[] = SUBGROUPS ? ["workgroup", "subgroup"] : ["workgroup"];

interface Opts { temperature: number; topK?: number; topP?: number; seed: number; step: number; rowOffset?: number }
const OPTS: Opts[] = [
  { temperature: 1, seed: 1, step: 0 },
  { temperature: 0.7, topK: 5, seed: 2, step: 3 },
  { temperature: 1.3, topP: 0.9, seed: 3, step: 9, rowOffset: 5 },
  { temperature: 1, topK: 20, topP: 0.5, seed: 4, step: 1 },
  { temperature: 0, seed: 5, step: 0 },
];
const SIZES = [1, 7, 64, 65, 108, 1000];
const ROWS = 6;
const PAD = 3; // extra logits after each row, set high so that reading them would show

/** (ROWS, V + PAD) logits: random, peaked, all NaN, two finite ties, a tied maximum, all -inf. */
function testLogits(V: number): Float32Array {
  const S = V + PAD;
  const x = randArray(ROWS * S, 17 + V, -4, 4);
  for (let r = 0; r < ROWS; r++) x.fill(50, r * S + V, (r + 1) * S);
  for (let v = 0; v < V; v++) x[S + v]! *= 10;
  x.fill(NaN, 2 * S, 2 * S + V);
  x.fill(-Infinity, 3 * S, 3 * S + V);
  x[3 * S + Math.min(3, V - 1)] = 0;
  x[3 * S + V - 1] = 0;
  x[4 * S + Math.floor(V / 3)] = 9;
  x[4 * S + V - 1] = 9;
  x.fill(-Infinity, 5 * S, 5 * S + V);
  return x;
}

/** ids (ROWS), logp and entropy (ROWS) read from strided outputs: ids at [r * 2 + 1], stats at [r * 3 + 2]. */
async function sampleWith(gpu: Gpu, logits: Float32Array, V: number, o: Opts, schedule: SampleSchedule) {
  const ids = gpu.zeros([ROWS, 2], "ids", "u32"), logp = gpu.zeros([ROWS, 3]), ent = gpu.zeros([ROWS, 3]);
  const tl = gpu.upload(logits, [ROWS, V + PAD]);
  sampleTokens(gpu, ids, logp, ent, tl, { rows: ROWS, V, logitsStride: V + PAD, ...o, idsStride: 2, idsCol: 1, statStride: 3, statCol: 2, schedule });
  const [i, l, e] = [await gpu.readU32(ids), await gpu.read(logp), await gpu.read(ent)];
  gpu.release(ids, logp, ent, tl);
  const pick = <T extends Float32Array | Uint32Array>(a: T, stride: number, col: number) => Array.from({ length: ROWS }, (_, r) => a[r * stride + col]!);
  expect(pick(i, 2, 0).every((v) => v === 0)).toBe(true); // untouched columns stay zero
  return { ids: pick(i, 2, 1), logp: new Float32Array(pick(l, 3, 2)), entropy: new Float32Array(pick(e, 3, 2)) };
}

describe.each(SCHEDULES)("sampler schedule %s", (schedule) => {
  it.each(SIZES)("matches the reference at V = %i", async (V) => {
    const gpu = await testGpu();
    const logits = testLogits(V);
    for (const o of OPTS) {
      const got = await sampleWith(gpu, logits, V, o, schedule);
      let mismatches = 0;
      for (let r = 0; r < ROWS; r++) {
        const row = logits.subarray(r * (V + PAD), r * (V + PAD) + V);
        const ref = sampleRowRef(row, o, (o.rowOffset ?? 0) + r);
        if (got.ids[r] !== ref.id) mismatches++;
        if (Number.isNaN(ref.entropy)) expect(got.entropy[r]).toBeNaN();
        else expect(got.entropy[r]).toBeCloseTo(ref.entropy, 3);
        if (got.ids[r] === ref.id && Number.isFinite(ref.logp)) expect(got.logp[r]).toBeCloseTo(ref.logp, 3);
      }
      // exp() differs in the last bits between WGSL and JS: a draw may fall across a boundary.
      expect(mismatches, JSON.stringify(o)).toBeLessThanOrEqual(1);
      expect(got.ids[2], "all-NaN row").toBe(V - 1);
      expect(got.ids[3], "two finite ties").toBe(o.temperature === 0 ? Math.min(3, V - 1) : ref3(logits, V, o));
      if (o.temperature === 0) expect(got.ids[4], "tied maximum: lowest index").toBe(V === 1 ? 0 : Math.floor(V / 3));
    }
  });
});

/** The reference's id on the row of two finite ties (either tie, by the draw). */
const ref3 = (logits: Float32Array, V: number, o: Opts): number => sampleRowRef(logits.subarray(3 * (V + PAD), 3 * (V + PAD) + V), o, (o.rowOffset ?? 0) + 3).id;

describe.runIf(SUBGROUPS)("subgroup schedule against the 64-lane kernel", () => {
  it("is the default on CPU rasterisers", () => {
    expect(sampleSchedule(gpuForSchedules)).toBe(gpuForSchedules.info.isSoftware ? "subgroup" : "workgroup");
  });

  it.each([...SIZES, 32000])("gives the same bits at V = %i", async (V) => {
    const gpu = await testGpu();
    const logits = testLogits(V);
    for (const o of OPTS) {
      const a = await sampleWith(gpu, logits, V, o, "workgroup");
      const b = await sampleWith(gpu, logits, V, o, "subgroup");
      expect(b.ids, JSON.stringify(o)).toEqual(a.ids);
      // Compared as bit patterns: NaN equals NaN, and -0 differs from 0.
      expect([...new Uint32Array(b.logp.buffer)], JSON.stringify(o)).toEqual([...new Uint32Array(a.logp.buffer)]);
      expect([...new Uint32Array(b.entropy.buffer)], JSON.stringify(o)).toEqual([...new Uint32Array(a.entropy.buffer)]);
    }
  });
});
