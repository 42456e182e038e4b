// The row-stats kernels' two schedules ("workgroup", and "subgroup" where the adapter has
// 8-lane subgroups) run explicitly on the same rows: the subgroup schedule must give the same
// bits (log p, lse, entropy, dlogits) as the 128-lane forward and the 256-lane-block backward,
// and both must agree with the reference. Sizes around the 128 virtual lanes (1, 7, 64, 65,
// 108, 1000, 32000), every output mix and gradient mix, and rows with a NaN, a +inf, all -inf,
// masked -inf, a huge logit, an id >= V.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import { ROW_WG, type RowSchedule, rowGrad, rowSchedule, rowStats } from "../../runtime/engine/ops/rowstats.js";
import { logprobsEntropyBackwardRef } from "../../runtime/engine/ops/logprobs-entropy.ref.js";
import { rowStatRef } from "../../runtime/engine/ops/rowstats.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, f64, randArray, randInts } from "../helpers/numeric.js";

const gpuForSchedules = await testGpu();
const SUBGROUPS = hasSubgroups8(gpuForSchedules);
const SCHEDULES: RowSchedule[] = SUBGROUPS ? ["workgroup", "subgroup"] : ["workgroup"];
const SIZES = [1, 7, 64, 65, 108, 1000];
const ROWS = 9;
const EPS32 = 2 ** -24;

/**
 * (ROWS, V) logits: random, peaked, one NaN, one +inf, all -inf, half masked with -inf, one
 * huge logit among ordinary ones, a single finite logit among -inf, random. ids (ROWS) with
 * ids[8] = V (out of range).
 */
function testRows(V: number): { logits: Float32Array; ids: Uint32Array } {
  const x = randArray(ROWS * V, 31 + V, -6, 6);
  for (let v = 0; v < V; v++) x[V + v]! *= 10;
  x[2 * V + Math.floor(V / 2)] = NaN;
  x[3 * V + V - 1] = Infinity;
  x.fill(-Infinity, 4 * V, 5 * V);
  for (let v = 0; v < V; v += 2) x[5 * V + v] = -Infinity;
  x[6 * V + Math.floor(V / 3)] = 1e30;
  x.fill(-Infinity, 7 * V, 8 * V);
  x[7 * V + V - 1] = 2;
  const ids = randInts(ROWS, 32 + V, V);
  ids[8] = V;
  return { logits: x, ids };
}

type Mix = [logp: boolean, lse: boolean, entropy: boolean];
const MIXES: Mix[] = [[true, true, true], [true, true, false], [true, false, false], [false, true, true], [false, false, true]];

/** The outputs of one mix, null where off. */
async function statsWith(gpu: Gpu, logits: Float32Array, ids: Uint32Array, V: number, [a, b, c]: Mix, schedule: RowSchedule) {
  const tl = gpu.upload(logits, [ROWS, V]), tid = gpu.upload(ids);
  const out = [a, b, c].map((on) => (on ? gpu.empty([ROWS]) : null));
  rowStats(gpu, out[0]!, out[1]!, out[2]!, tl, a ? tid : null, ROWS, V, schedule);
  const got = await Promise.all(out.map((t) => (t ? gpu.read(t) : null)));
  gpu.release(tl, tid, ...out);
  return { logp: got[0]!, lse: got[1]!, entropy: got[2]! };
}

describe.each(SCHEDULES)("row stats schedule %s", (schedule) => {
  it.each(SIZES)("matches the reference at V = %i", async (V) => {
    const gpu = await testGpu();
    const { logits, ids } = testRows(V);
    const got = await statsWith(gpu, logits, ids, V, [true, true, true], schedule);
    const x = f64(logits);
    const tol = 2 * EPS32 * (V / ROW_WG + 8);
    for (let r = 0; r < ROWS; r++) {
      const ref = rowStatRef(x, r, V);
      const logp = ids[r]! < V ? x[r * V + ids[r]!]! - ref.lse : NaN;
      const at = `row ${r}`;
      expect(Number.isNaN(got.lse[r]), at).toBe(ref.bad);
      if (ref.bad) { expect(got.logp[r], at).toBeNaN(); expect(got.entropy[r], at).toBeNaN(); continue; }
      expectClose(got.lse.subarray(r, r + 1), [ref.lse], tol * Math.max(1, Math.abs(ref.m)), 2 * EPS32, `${at} lse`);
      expectClose(got.entropy.subarray(r, r + 1), [ref.entropy], tol * 16, 1e-5, `${at} entropy`);
      if (Number.isNaN(logp)) expect(got.logp[r], at).toBeNaN();
      else expectClose(got.logp.subarray(r, r + 1), [logp], tol * Math.max(8, Math.abs(ref.m)), 1e-5, `${at} logp`);
    }
    expect([got.lse[2], got.lse[3], got.lse[4]], "NaN, +inf, all -inf rows").toEqual([NaN, NaN, NaN]);
    expect(got.logp[8], "id >= V").toBeNaN();
    if (V > 1) expect(got.entropy[7], "one finite logit: H = 0").toBe(0);
  });
});

type GradMix = [logp: boolean, entropy: boolean, accumulate: boolean];
const GRAD_MIXES: GradMix[] = [[true, true, false], [true, false, false], [false, true, false], [true, true, true], [false, true, true]];

/** dlogits (ROWS, V) of one gradient mix from the forward's lse and H; accumulate adds to a fixed start. */
async function gradWith(gpu: Gpu, logits: Float32Array, ids: Uint32Array, V: number, [a, b, acc]: GradMix, schedule: RowSchedule) {
  const tl = gpu.upload(logits, [ROWS, V]), tid = gpu.upload(ids);
  const lse = gpu.empty([ROWS]), H = gpu.empty([ROWS]);
  rowStats(gpu, null, lse, H, tl, null, ROWS, V, "workgroup");
  const dlogp = gpu.upload(randArray(ROWS, 41, -2, 2)), dH = gpu.upload(randArray(ROWS, 42, -2, 2));
  const dx = gpu.upload(acc ? randArray(ROWS * V, 43, -1, 1) : new Float32Array(ROWS * V).fill(7), [ROWS, V]);
  rowGrad(gpu, dx, a ? dlogp : null, b ? dH : null, tl, a ? tid : null, lse, b ? H : null, ROWS, V, acc, schedule);
  const out = { dx: await gpu.read(dx), lse: await gpu.read(lse), H: await gpu.read(H) };
  gpu.release(tl, tid, lse, H, dlogp, dH, dx);
  return out;
}

describe.each(SCHEDULES)("row gradient schedule %s", (schedule) => {
  it.each(SIZES)("matches the reference at V = %i", async (V) => {
    const gpu = await testGpu();
    const { logits, ids } = testRows(V);
    const got = await gradWith(gpu, logits, ids, V, [true, true, false], schedule);
    const ref = new Float64Array(ROWS * V);
    const dlogp = f64(randArray(ROWS, 41, -2, 2)), dH = f64(randArray(ROWS, 42, -2, 2));
    logprobsEntropyBackwardRef(ref, dlogp, dH, f64(logits), ids, f64(got.lse), f64(got.H), ROWS, V);
    expectClose(got.dx, ref, 1e-5, 1e-4, "dlogits"); // NaN rows must be NaN in both
    expect(got.dx[4 * V], "all -inf row: NaN").toBeNaN();
    if (V > 1) expect(got.dx[5 * V], "masked logit: 0").toBe(0);
  });
});

/**
 * Where b's bits first differ from a's (-1: none; NaN equals NaN, -0 differs from 0), with
 * both values: cheap to report on rows of 32,000 (a whole-array diff is not).
 */
function firstDiff(a: Float32Array | null, b: Float32Array | null): string {
  if (!a || !b) return a === b ? "-1" : "one output missing";
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) return `lengths ${x.length} ${y.length}`;
  const i = x.findIndex((v, k) => v !== y[k]);
  return i < 0 ? "-1" : `at ${i}: ${a[i]} vs ${b[i]}`;
}

describe.runIf(SUBGROUPS)("row stats: subgroup schedule against the 128-lane kernel", () => {
  it("is the default on CPU rasterisers", () => {
    expect(rowSchedule(gpuForSchedules)).toBe(gpuForSchedules.info.isSoftware ? "subgroup" : "workgroup");
  });

  it.each([...SIZES, 32000])("gives the same bits at V = %i", async (V) => {
    const gpu = await testGpu();
    const { logits, ids } = testRows(V);
    for (const mix of MIXES) {
      const a = await statsWith(gpu, logits, ids, V, mix, "workgroup");
      const b = await statsWith(gpu, logits, ids, V, mix, "subgroup");
      expect(firstDiff(a.logp, b.logp), `logp ${mix}`).toBe("-1");
      expect(firstDiff(a.lse, b.lse), `lse ${mix}`).toBe("-1");
      expect(firstDiff(a.entropy, b.entropy), `entropy ${mix}`).toBe("-1");
    }
  });
});

describe.runIf(SUBGROUPS)("row gradient: row-walking schedule against the 256-lane blocks", () => {
  it.each([...SIZES, 32000])("gives the same bits at V = %i", async (V) => {
    const gpu = await testGpu();
    const { logits, ids } = testRows(V);
    for (const mix of GRAD_MIXES) {
      const a = await gradWith(gpu, logits, ids, V, mix, "workgroup");
      const b = await gradWith(gpu, logits, ids, V, mix, "subgroup");
      expect(firstDiff(a.dx, b.dx), `dlogits ${mix}`).toBe("-1");
    }
  });
});
