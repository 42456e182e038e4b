import { describe, expect, it } from "vitest";
import { attentionForward } from "../../runtime/engine/ops/attention.js";
import { attentionForwardRef } from "../../runtime/engine/ops/attention.ref.js";
import { type DecodeSchedule, type DecodeSizes, appendKV, attentionDecode, decodeSchedule } from "../../runtime/engine/ops/attention-decode.js";
import { appendKVRef, attentionDecodeRef } from "../../runtime/engine/ops/attention-decode.ref.js";
import { headsPerLane } from "../../runtime/engine/ops/attention-decode-rows.js";
import { hasSubgroups8 } from "../../runtime/engine/ops/matmul.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, f64, randArray, randInts } from "../helpers/numeric.js";

/** Tokens [from, from + n) of each row's own offset: (B, T, H, D) -> (B, n, H, D). */
function sliceTokens(x: Float32Array, B: number, T: number, HD: number, from: ArrayLike<number>, n: number): Float32Array {
  const out = new Float32Array(B * n * HD);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * T + from[b]!) * HD, (b * T + from[b]! + n) * HD), b * n * HD);
  return out;
}

async function decode(gpu: Gpu, kc: Tensor, vc: Tensor, q: Float32Array, start: Uint32Array, s: DecodeSizes, k?: Float32Array, v?: Float32Array, schedule?: DecodeSchedule, prefix?: Uint32Array): Promise<Float32Array> {
  const ts = gpu.upload(start, [s.B], "start");
  const tp = prefix ? gpu.upload(prefix, [s.B], "prefix") : null;
  const tmp: Tensor[] = [ts, ...(tp ? [tp] : [])];
  if (k && v) {
    const tk = gpu.upload(k, [s.B, s.Tq, s.Hkv, s.D], "k_new"), tv = gpu.upload(v, [s.B, s.Tq, s.Hkv, s.D], "v_new");
    appendKV(gpu, kc, vc, tk, tv, ts, s);
    tmp.push(tk, tv);
  }
  const tq = gpu.upload(q, [s.B, s.Tq, s.Hq, s.D], "q"), out = gpu.empty([s.B, s.Tq, s.Hq, s.D], "out");
  attentionDecode(gpu, out, tq, kc, vc, ts, s, schedule, tp);
  const got = await gpu.read(out);
  gpu.release(...tmp, tq, out);
  return got;
}

describe("appendKV", () => {
  it("writes each row at its own start and drops positions beyond the cache", async () => {
    const gpu = await testGpu();
    const s = { B: 3, Tq: 5, Hkv: 2, D: 8, Tmax: 13 };
    const nc = s.B * s.Hkv * s.Tmax * s.D, n = s.B * s.Tq * s.Hkv * s.D;
    const kc = new Float32Array(nc).fill(-7), vc = new Float32Array(nc).fill(-9);
    const k = randArray(n, 1), v = randArray(n, 2);
    const start = new Uint32Array([0, 6, 10]); // row 2 overflows at positions 13, 14
    const tkc = gpu.upload(kc), tvc = gpu.upload(vc), ts = gpu.upload(start);
    appendKV(gpu, tkc, tvc, gpu.upload(k), gpu.upload(v), ts, s);
    appendKVRef(kc, vc, k, v, start, s.B, s.Tq, s.Hkv, s.D, s.Tmax);
    expectClose(await gpu.read(tkc), kc, 0, 0, "k cache");
    expectClose(await gpu.read(tvc), vc, 0, 0, "v cache");
    expect(kc.filter((x) => x === -7).length).toBe(nc - (5 + 5 + 3) * s.Hkv * s.D);
  });
});

describe("attentionDecode", () => {
  it.each([
    { B: 3, Tq: 1, Hq: 6, Hkv: 2, D: 16, Tmax: 40 },
    { B: 2, Tq: 5, Hq: 4, Hkv: 4, D: 24, Tmax: 33 },
    { B: 4, Tq: 7, Hq: 8, Hkv: 1, D: 16, Tmax: 70 },
  ])("matches the reference, ignoring NaN past each query's position, for %o", async (s) => {
    const gpu = await testGpu();
    const nc = s.B * s.Hkv * s.Tmax * s.D;
    const kc = randArray(nc, 3, -2, 2), vc = randArray(nc, 4);
    const start = randInts(s.B, 5 + s.Tq, s.Tmax - s.Tq + 1);
    start[0] = 0;
    // Everything past the last position a row attends to is NaN: it must not leak in.
    for (let b = 0; b < s.B; b++) {
      for (let h = 0; h < s.Hkv; h++) {
        for (let p = start[b]! + s.Tq; p < s.Tmax; p++) {
          for (let d = 0; d < s.D; d++) kc[((b * s.Hkv + h) * s.Tmax + p) * s.D + d] = vc[((b * s.Hkv + h) * s.Tmax + p) * s.D + d] = NaN;
        }
      }
    }
    const q = randArray(s.B * s.Tq * s.Hq * s.D, 6, -2, 2);
    const tkc = gpu.upload(kc), tvc = gpu.upload(vc);
    const got = await decode(gpu, tkc, tvc, q, start, s);
    const ref = new Float64Array(got.length);
    attentionDecodeRef(ref, f64(q), f64(kc), f64(vc), start, s);
    expect(got.every(Number.isFinite)).toBe(true);
    expectClose(got, ref, 1e-6, 1e-4);
    gpu.release(tkc, tvc);
  });

  it("gives NaN for queries past the cache capacity, and large logits stay finite", async () => {
    const gpu = await testGpu();
    const s = { B: 2, Tq: 3, Hq: 2, Hkv: 1, D: 16, Tmax: 10 };
    const nc = s.B * s.Hkv * s.Tmax * s.D;
    const kc = randArray(nc, 7, -30, 30), vc = randArray(nc, 8);
    const q = randArray(s.B * s.Tq * s.Hq * s.D, 9, -30, 30);
    const start = new Uint32Array([8, 2]); // row 0: positions 8, 9 fit, 10 does not
    const got = await decode(gpu, gpu.upload(kc), gpu.upload(vc), q, start, s);
    const ref = new Float64Array(got.length);
    attentionDecodeRef(ref, f64(q), f64(kc), f64(vc), start, s);
    const rowLen = s.Hq * s.D;
    expect(got.subarray(2 * rowLen, 3 * rowLen).every(Number.isNaN)).toBe(true);
    expect(got.subarray(0, 2 * rowLen).every(Number.isFinite) && got.subarray(3 * rowLen).every(Number.isFinite)).toBe(true);
    expectClose(got, ref, 2e-3, 2e-3); // scores near 3600 carry ~2e-4 fp32 rounding
  });
});

const gpuForSchedules = await testGpu();
/** The schedules this adapter runs for Tq new tokens: "rows" only for Tq = 1, "tile-sg" only with subgroups. */
const schedulesFor = (Tq: number): DecodeSchedule[] => [...(Tq === 1 ? ["rows" as const] : []), "tile", ...(hasSubgroups8(gpuForSchedules) ? ["tile-sg" as const] : [])];

describe("attentionDecode's schedules", () => {
  it.each([
    { B: 5, Tq: 1, Hq: 6, Hkv: 2, D: 8, Tmax: 37 }, // G = 3, one block of 3 heads per lane
    { B: 3, Tq: 1, Hq: 3, Hkv: 3, D: 12, Tmax: 9 }, // G = 1
    { B: 11, Tq: 1, Hq: 8, Hkv: 1, D: 4, Tmax: 50 }, // G = 8
    { B: 7, Tq: 1, Hq: 4, Hkv: 2, D: 8, Tmax: 23 }, // G = 2, D 8
    { B: 4, Tq: 1, Hq: 8, Hkv: 2, D: 32, Tmax: 30 }, // G = 4, D 32: one head per lane
    { B: 3, Tq: 1, Hq: 8, Hkv: 1, D: 16, Tmax: 20 }, // G = 8, D 16: four blocks of 2 heads per kv head
    { B: 4, Tq: 8, Hq: 4, Hkv: 2, D: 16, Tmax: 41 }, // G = 2: the attribution shape, 16 rows = 2 sg tiles
    { B: 3, Tq: 5, Hq: 4, Hkv: 1, D: 8, Tmax: 19 }, // G = 4: sg tiles span heads
    { B: 5, Tq: 3, Hq: 2, Hkv: 2, D: 32, Tmax: 26 }, // G = 1, fewer rows than a chunk
    { B: 3, Tq: 13, Hq: 8, Hkv: 2, D: 16, Tmax: 60 }, // G = 4, 52 rows
  ])("agree bit for bit with each other and with the reference, NaN past the cache included, for %o", async (s) => {
    const gpu = await testGpu();
    const nc = s.B * s.Hkv * s.Tmax * s.D;
    // Logits of a few units: a soft softmax, so every key's bits reach the output (large
    // logits make it one-hot, where a change in the score arithmetic would not show).
    const kc = randArray(nc, 21 + s.D, -3, 3), vc = randArray(nc, 22 + s.B);
    const start = randInts(s.B, 23 + s.Tq, s.Tmax - s.Tq + 1);
    start[0] = 0;
    start[s.B - 1] = s.Tmax; // one past the cache: every query NaN
    if (s.Tq > 1) start[1] = s.Tmax - 1; // only the first query fits
    // Entries past a row's last query are never attended: Infinity there must not leak in.
    for (let b = 0; b < s.B; b++) {
      for (let h = 0; h < s.Hkv; h++) {
        for (let p = start[b]! + s.Tq; p < s.Tmax; p++) kc[((b * s.Hkv + h) * s.Tmax + p) * s.D] = vc[((b * s.Hkv + h) * s.Tmax + p) * s.D] = Infinity;
      }
    }
    const q = randArray(s.B * s.Tq * s.Hq * s.D, 24, -3, 3);
    const tkc = gpu.upload(kc), tvc = gpu.upload(vc);
    const ref = new Float64Array(q.length);
    attentionDecodeRef(ref, f64(q), f64(kc), f64(vc), start, s);
    const rowLen = s.Tq * s.Hq * s.D;
    const schedules = schedulesFor(s.Tq);
    let first: Uint32Array | null = null;
    for (const schedule of schedules) {
      const got = await decode(gpu, tkc, tvc, q, start, s, undefined, undefined, schedule);
      expectClose(got, ref, 1e-5, 1e-4, schedule); // NaN where ref is
      expect(got.subarray((s.B - 1) * rowLen).every(Number.isNaN), schedule).toBe(true);
      expect(got.subarray(0, rowLen).every(Number.isFinite), schedule).toBe(true);
      const bits = new Uint32Array(got.buffer);
      if (first) expect(bits, `${schedule} vs ${schedules[0]}`).toEqual(first);
      else first = bits;
    }
    gpu.release(tkc, tvc);
  });

  it("takes one block of query heads per lane that fits the private-memory bound", () => {
    expect([headsPerLane(1, 16), headsPerLane(2, 16), headsPerLane(4, 16), headsPerLane(4, 32), headsPerLane(8, 8), headsPerLane(6, 8)]).toEqual([1, 2, 2, 1, 4, 3]);
  });
});

describe("attentionDecode's 'rows' schedule (Tq = 1)", () => {
  it("rejects Tq > 1", async () => {
    const gpu = await testGpu();
    const s = { B: 1, Tq: 2, Hq: 1, Hkv: 1, D: 4, Tmax: 4 };
    const q = gpu.empty([8]), out = gpu.empty([8]), kc = gpu.empty([16]), vc = gpu.empty([16]), st = gpu.upload(new Uint32Array(1));
    expect(() => attentionDecode(gpu, out, q, kc, vc, st, s, "rows")).toThrow("attentionDecode: the 'rows' schedule needs Tq = 1, got 2");
    gpu.release(q, out, kc, vc, st);
  });
});

/**
 * A cache whose aligned blocks of 8 rows share a prefix, as generate() lays out the responses
 * of a prompt: block k's rows hold row 8k's keys and values below the block's smallest prefix.
 * Per block, P[k] is that prefix; starts are random from P[k] - 1 (one row at exactly P[k] - 1:
 * no keys of its own), and the second block has a row past the cache and a row whose prefix
 * exceeds its block's; the third a row at start 0 (nothing to share). Entries past each row's
 * position, outside the shared prefix, are Infinity: they must not leak in.
 */
function sharedCache(s: DecodeSizes, P: number[]): { kc: Float32Array; vc: Float32Array; start: Uint32Array; prefix: Uint32Array } {
  const nc = s.B * s.Hkv * s.Tmax * s.D, row = s.Hkv * s.Tmax * s.D;
  const kc = randArray(nc, 31 + s.D, -3, 3), vc = randArray(nc, 32 + s.B);
  const start = new Uint32Array(s.B), prefix = new Uint32Array(s.B);
  const r = randInts(s.B, 33 + s.Hq, 1 << 20);
  for (let b = 0; b < s.B; b++) {
    const Pk = P[Math.floor(b / 8)] ?? 0, lo = Math.min(Math.max(Pk - 1, 0), s.Tmax - 1);
    start[b] = lo + (r[b]! % (s.Tmax - lo));
    prefix[b] = Pk;
  }
  P.forEach((Pk, k) => {
    const b0 = 8 * k, at = (i: number) => b0 + i < s.B;
    if (at(1)) start[b0 + 1] = Math.min(Math.max(Pk - 1, 0), s.Tmax - 1);
    if (k === 1 && at(3)) { start[b0 + 2] = s.Tmax; prefix[b0 + 3] = Pk + 3; }
    if (k === 2 && at(4)) start[b0 + 4] = 0;
  });
  for (let b0 = 0; b0 < s.B; b0 += 8) {
    const rows = Array.from({ length: Math.min(8, s.B - b0) }, (_, i) => b0 + i);
    const shared = Math.min(s.Tmax, ...rows.map((b) => prefix[b]!));
    for (const b of rows) {
      for (let h = 0; h < s.Hkv; h++) {
        for (let p = 0; p < s.Tmax; p++) {
          const at = ((b * s.Hkv + h) * s.Tmax + p) * s.D, src = at - (b - b0) * row;
          if (p < shared) for (let d = 0; d < s.D; d++) { kc[at + d] = kc[src + d]!; vc[at + d] = vc[src + d]!; }
          else if (p > start[b]!) kc[at] = vc[at] = Infinity;
        }
      }
    }
  }
  return { kc, vc, start, prefix };
}

describe.skipIf(!hasSubgroups8(gpuForSchedules))("attentionDecode's 'rows-sg' schedule (blocks of 8 rows sharing a prefix)", () => {
  it.each([
    { B: 16, Hq: 4, Hkv: 2, D: 16, Tmax: 41, P: [23, 16] }, // the rollout's heads: G 2, two heads per lane
    { B: 24, Hq: 3, Hkv: 3, D: 8, Tmax: 30, P: [9, 0, 29] }, // G 1; a block sharing nothing
    { B: 13, Hq: 8, Hkv: 2, D: 32, Tmax: 27, P: [12, 12] }, // G 4, D 32: one head per lane; a last block of 5 rows
    { B: 19, Hq: 8, Hkv: 1, D: 4, Tmax: 50, P: [45, 5, 30] }, // G 8; a prefix shorter than a chunk
    { B: 8, Hq: 4, Hkv: 1, D: 16, Tmax: 20, P: [40] }, // a prefix past the cache
    { B: 7, Hq: 2, Hkv: 1, D: 8, Tmax: 12, P: [8] }, // fewer rows than a block: nothing shared
  ])("agrees bit for bit with 'rows' and with the reference, NaN past the cache included, for %o", async ({ P, ...rest }) => {
    const gpu = await testGpu();
    const s = { ...rest, Tq: 1 };
    const { kc, vc, start, prefix } = sharedCache(s, P);
    const q = randArray(s.B * s.Hq * s.D, 34, -3, 3);
    const tkc = gpu.upload(kc), tvc = gpu.upload(vc);
    const ref = new Float64Array(q.length);
    attentionDecodeRef(ref, f64(q), f64(kc), f64(vc), start, s);
    const rows = await decode(gpu, tkc, tvc, q, start, s, undefined, undefined, "rows");
    const sg = await decode(gpu, tkc, tvc, q, start, s, undefined, undefined, "rows-sg", prefix);
    expectClose(sg, ref, 1e-5, 1e-4, "rows-sg"); // NaN where ref is
    expect(sg.some(Number.isNaN)).toBe(s.B > 11); // the second block's row past the cache
    expect(new Uint32Array(sg.buffer)).toEqual(new Uint32Array(rows.buffer));
    gpu.release(tkc, tvc);
  });

  it("is the default for Tq = 1 given a prefix on CPU rasterisers, and needs a prefix", async () => {
    const gpu = await testGpu();
    expect(decodeSchedule(gpu, 1, true)).toBe(gpu.info.isSoftware ? "rows-sg" : "rows");
    expect([decodeSchedule(gpu, 1), decodeSchedule(gpu, 2, true)]).toEqual(["rows", gpu.info.isSoftware ? "tile-sg" : "tile"]);
    const s = { B: 8, Tq: 1, Hq: 1, Hkv: 1, D: 4, Tmax: 4 };
    const q = gpu.empty([32]), out = gpu.empty([32]), kc = gpu.empty([128]), vc = gpu.empty([128]), st = gpu.upload(new Uint32Array(8));
    expect(() => attentionDecode(gpu, out, q, kc, vc, st, s, "rows-sg")).toThrow("attentionDecode: the 'rows-sg' schedule needs a u32 prefix tensor of B = 8 elements");
    gpu.release(q, out, kc, vc, st);
  });
});

describe("KV-cache decoding equals the full causal forward", () => {
  const s = { B: 3, T: 19, Hq: 6, Hkv: 2, D: 16 };
  const Tmax = 24;
  const q = randArray(s.B * s.T * s.Hq * s.D, 11, -2, 2);
  const k = randArray(s.B * s.T * s.Hkv * s.D, 12, -2, 2);
  const v = randArray(s.B * s.T * s.Hkv * s.D, 13);
  const HDq = s.Hq * s.D, HDkv = s.Hkv * s.D;

  async function full(): Promise<Float32Array> {
    const gpu = await testGpu();
    const out = gpu.empty([s.B, s.T, s.Hq, s.D]), att = gpu.empty([s.B, s.Hq, s.T, s.T]);
    attentionForward(gpu, out, att, gpu.upload(q), gpu.upload(k), gpu.upload(v), s);
    const got = await gpu.read(out);
    const ref = new Float64Array(got.length);
    attentionForwardRef(ref, new Float64Array(att.size), f64(q), f64(k), f64(v), s);
    expectClose(got, ref, 1e-6, 1e-4, "full forward vs reference");
    return got;
  }

  async function emptyCache(gpu: Gpu): Promise<[Tensor, Tensor]> {
    // NaN-filled, so reading a slot that was never written would show.
    const nan = new Float32Array(s.B * s.Hkv * Tmax * s.D).fill(NaN);
    return [gpu.upload(nan), gpu.upload(nan)];
  }

  it("token by token", async () => {
    const gpu = await testGpu();
    const want = await full();
    const [kc, vc] = await emptyCache(gpu);
    for (let t = 0; t < s.T; t++) {
      const at = new Uint32Array(s.B).fill(t);
      const ds = { B: s.B, Tq: 1, Hq: s.Hq, Hkv: s.Hkv, D: s.D, Tmax };
      const got = await decode(gpu, kc, vc, sliceTokens(q, s.B, s.T, HDq, at, 1), at, ds, sliceTokens(k, s.B, s.T, HDkv, at, 1), sliceTokens(v, s.B, s.T, HDkv, at, 1));
      expectClose(got, sliceTokens(want, s.B, s.T, HDq, at, 1), 1e-6, 1e-4, `token ${t}`);
    }
    gpu.release(kc, vc);
  });

  it("in chunks of Tq > 1 (prefill 7, then 4, 4, 3, 1)", async () => {
    const gpu = await testGpu();
    const want = await full();
    const [kc, vc] = await emptyCache(gpu);
    let t = 0;
    for (const n of [7, 4, 4, 3, 1]) {
      const at = new Uint32Array(s.B).fill(t);
      const ds = { B: s.B, Tq: n, Hq: s.Hq, Hkv: s.Hkv, D: s.D, Tmax };
      const got = await decode(gpu, kc, vc, sliceTokens(q, s.B, s.T, HDq, at, n), at, ds, sliceTokens(k, s.B, s.T, HDkv, at, n), sliceTokens(v, s.B, s.T, HDkv, at, n));
      expectClose(got, sliceTokens(want, s.B, s.T, HDq, at, n), 1e-6, 1e-4, `chunk at ${t}`);
      t += n;
    }
    expect(t).toBe(s.T);
    gpu.release(kc, vc);
  });

  it("with a different start per row over a fully written cache (scoring continuations)", async () => {
    const gpu = await testGpu();
    const want = await full();
    const [kc, vc] = await emptyCache(gpu);
    const zero = new Uint32Array(s.B);
    const ds = { B: s.B, Tq: s.T, Hq: s.Hq, Hkv: s.Hkv, D: s.D, Tmax };
    // Prefill all T tokens at once; it must equal the full forward too.
    const pre = await decode(gpu, kc, vc, q, zero, ds, k, v);
    expectClose(pre, want, 1e-6, 1e-4, "prefill");
    const Tq = 5;
    for (const at of [new Uint32Array([0, 3, 14]), new Uint32Array([9, 1, 6]), new Uint32Array([14, 14, 0])]) {
      const got = await decode(gpu, kc, vc, sliceTokens(q, s.B, s.T, HDq, at, Tq), at, { ...ds, Tq });
      expectClose(got, sliceTokens(want, s.B, s.T, HDq, at, Tq), 1e-6, 1e-4, `starts ${at}`);
    }
    gpu.release(kc, vc);
  });
});
