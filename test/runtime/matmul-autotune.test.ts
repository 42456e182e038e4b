// Matmul schedules chosen by measurement (runtime/engine/ops/matmul-autotune.ts): key derivation,
// the cache file (round trip, atomic write, corrupt files), the choice logic with injected
// measurements (no timing enters these tests), and the precedence ACPO_MATMUL > ACPO_AUTOTUNE=0
// > tuned > default in matmul's own choice.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIN_GAIN, type MatmulDims, MatmulTuner, type TunedEntry, adapterKey, autotuneEnabled, chooseFastest, pow2Bucket, readTuningFile, shapeClass, tuningCachePath, writeTuningEntries } from "../../runtime/engine/ops/matmul-autotune.js";
import { chooseMatmulVariant, hasSubgroups8, matmul, matmulTuner, tuneMatmuls, tuningCandidates } from "../../runtime/engine/ops/matmul.js";
import { matmulRef } from "../../runtime/engine/ops/matmul.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray } from "../helpers/numeric.js";

const dims = (M: number, N: number, K: number, o: Partial<MatmulDims> = {}): MatmulDims => ({ M, N, K, batch: 1, transA: false, transB: false, strideA: M * K, strideB: K * N, ...o });
/** A machine that is not busy: timings are saved (the real check reads the load average). */
const idle = (): null => null;
const tempDir = (): string => mkdtempSync(join(tmpdir(), "acpo-mm-tune-"));
const entry = (variant: string, candidates = ["register", "tiled"]): TunedEntry => ({ variant, ms: Object.fromEntries(candidates.map((c, i) => [c, i + 1])), candidates, timedOn: "8x8x8 x1" });

describe("tuning keys", () => {
  it("buckets each dimension up to a power of two", () => {
    expect([0, 1, 2, 3, 4, 5, 1000, 1024, 1025].map(pow2Bucket)).toEqual([1, 1, 2, 4, 4, 8, 1024, 1024, 2048]);
  });

  it.each([
    [dims(2048, 1000, 1024, { transB: true }), "nt m2048 n1024 k1024 b1 v4"],
    [dims(2000, 1024, 1023), "nn m2048 n1024 k1024 b1"], // K not a multiple of 4: no vec4 loads
    [dims(6, 8, 8, { transA: true }), "tn m8 n8 k8 b1"], // A stored (K, M) with M = 6
    [dims(8, 8, 8, { transA: true, transB: true, batch: 3, strideA: 0 }), "tt m8 n8 k8 b4 v4"],
    [dims(8, 8, 8, { batch: 2, strideB: 66 }), "nn m8 n8 k8 b2"], // a batch stride off the vec4 grid
  ])("class of %j is %s", (d, key) => {
    expect(shapeClass(d)).toBe(key);
  });

  it("names the adapter by vendor, architecture, device, driver and backend, and a software adapter by its CPU too", () => {
    const gpuInfo = { vendor: "nvidia", architecture: "ampere", device: "RTX 3090", description: "driver 550", backend: "vulkan", isSoftware: false };
    const cpu = { model: "Intel Xeon", cores: 2 };
    expect(adapterKey(gpuInfo, cpu)).toBe("nvidia | ampere | RTX 3090 | driver 550 | vulkan");
    expect(adapterKey({ ...gpuInfo, vendor: "mesa", architecture: "", device: "llvmpipe", isSoftware: true }, cpu)).toBe("mesa | - | llvmpipe | driver 550 | vulkan | cpu Intel Xeon x2");
  });

  it("finds the cache under ACPO_CACHE_DIR, else XDG_CACHE_HOME/acpo, else ~/.cache/acpo", () => {
    expect(tuningCachePath({ ACPO_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x" })).toBe("/c/matmul-schedules.json");
    expect(tuningCachePath({ XDG_CACHE_HOME: "/x" })).toBe("/x/acpo/matmul-schedules.json");
    expect(tuningCachePath({})).toBe(join(homedir(), ".cache", "acpo", "matmul-schedules.json"));
  });

  it("ACPO_AUTOTUNE=0 / off / false / no turns tuning off; anything else leaves it on", () => {
    expect(["0", "off", "FALSE", " no "].map((v) => autotuneEnabled({ ACPO_AUTOTUNE: v }))).toEqual([false, false, false, false]);
    expect([undefined, "1", "on"].map((v) => autotuneEnabled({ ACPO_AUTOTUNE: v }))).toEqual([true, true, true]);
  });
});

describe("tuning cache file", () => {
  it("round-trips entries, keeps other adapters' entries and leaves no temporary file", () => {
    const path = join(tempDir(), "sub", "matmul-schedules.json"); // the directory is created
    const warnings: string[] = [];
    writeTuningEntries(path, "adapter A", { "nn m8 n8 k8 b1 v4": entry("tiled") }, (m) => warnings.push(m));
    writeTuningEntries(path, "adapter B", { "nt m8 n8 k8 b1 v4": entry("register") }, (m) => warnings.push(m));
    writeTuningEntries(path, "adapter A", { "tn m8 n8 k8 b1 v4": entry("register") }, (m) => warnings.push(m));
    const file = readTuningFile(path, (m) => warnings.push(m));
    expect(file.adapters).toEqual({
      "adapter A": { "nn m8 n8 k8 b1 v4": entry("tiled"), "tn m8 n8 k8 b1 v4": entry("register") },
      "adapter B": { "nt m8 n8 k8 b1 v4": entry("register") },
    });
    expect(readdirSync(join(path, ".."))).toEqual(["matmul-schedules.json"]);
    expect(warnings).toEqual([]);
  });

  it("reads a missing file as an empty cache, silently", () => {
    const warnings: string[] = [];
    expect(readTuningFile(join(tempDir(), "none.json"), (m) => warnings.push(m)).adapters).toEqual({});
    expect(warnings).toEqual([]);
  });

  it.each([
    ["{ not json", /: not valid JSON \(.+\); it will be rewritten$/],
    ['{"format": "something else", "version": 1, "adapters": {}}', /: not an acpo matmul schedule file \(no "format": "acpo-matmul-schedules"\); it will be rewritten$/],
    ['{"format": "acpo-matmul-schedules", "version": 2, "adapters": {}}', /: version 2, this acpo reads version 1; it will be rewritten$/],
    ['{"format": "acpo-matmul-schedules", "version": 1, "adapters": []}', /: "adapters" is not an object; it will be rewritten$/],
  ])("ignores a corrupt file (%s) with one warning naming it", (text, why) => {
    const path = join(tempDir(), "matmul-schedules.json");
    writeFileSync(path, text);
    const warnings: string[] = [];
    expect(readTuningFile(path, (m) => warnings.push(m)).adapters).toEqual({});
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^acpo: ignoring the matmul schedule cache ${path.replace(/[.]/g, "\\.")}`));
    expect(warnings[0]).toMatch(why);
  });

  it("ignores an unreadable path (a directory) with one warning, and keeps well-formed entries of a partly damaged file", () => {
    const dir = tempDir();
    const warnings: string[] = [];
    mkdirSync(join(dir, "matmul-schedules.json"));
    expect(readTuningFile(join(dir, "matmul-schedules.json"), (m) => warnings.push(m)).adapters).toEqual({});
    expect(warnings).toEqual([`acpo: ignoring the matmul schedule cache ${join(dir, "matmul-schedules.json")}: cannot read it (EISDIR)`]);
    const path = join(dir, "partial.json");
    writeFileSync(path, JSON.stringify({ format: "acpo-matmul-schedules", version: 1, adapters: { A: { good: entry("tiled"), bad: { variant: 3 } }, B: "junk" } }));
    expect(readTuningFile(path, (m) => warnings.push(m)).adapters).toEqual({ A: { good: entry("tiled") } });
    expect(warnings).toHaveLength(1);
  });

  it("warns once and carries on when the cache cannot be written", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "");
    const path = join(dir, "file", "matmul-schedules.json"); // its directory is a file
    const warnings: string[] = [];
    writeTuningEntries(path, "A", { c: entry("tiled") }, (m) => warnings.push(m));
    expect(warnings).toEqual([`acpo: could not save the matmul schedule cache ${path} (EEXIST); schedules will be timed again next run`]);
  });
});

describe("choosing by measurement", () => {
  it("keeps the earlier candidate unless a later one is at least 10 % faster", async () => {
    const pick = async (times: Record<string, number>): Promise<string> => (await chooseFastest(Object.keys(times), async (c) => times[c]!)).best;
    expect(await pick({ default: 10, other: 9.5 })).toBe("default");
    expect(await pick({ default: 10, other: 9 })).toBe("other");
    expect(await pick({ default: Infinity, other: 1e9 })).toBe("other"); // a default that could not be timed
  });

  it("picks the fastest candidate, the earlier one on a tie, and tells each measurement the best so far", async () => {
    const seen: [string, number][] = [];
    const times: Record<string, number> = { a: 5, b: 2, c: 2, d: 9 };
    const r = await chooseFastest(["a", "b", "c", "d"], async (c, best) => {
      seen.push([c, best]);
      return times[c]!;
    });
    expect(r).toEqual({ best: "b", ms: times });
    expect(seen).toEqual([["a", Infinity], ["b", 5], ["c", 2], ["d", 2]]);
  });

  it("tunes each pending class once, on the first call met in it, saves it, and a new process finds it in the file", async () => {
    const path = join(tempDir(), "matmul-schedules.json");
    const candidates = (d: MatmulDims): string[] => (d.K % 4 === 0 ? ["register", "register-scalar", "tiled"] : ["register", "tiled"]);
    const tuner = new MatmulTuner("adapter X", path, candidates, () => {});
    expect(tuner.lookup(dims(100, 64, 64))).toBeNull();
    expect(tuner.lookup(dims(120, 60, 64))).toBeNull(); // same class: still one pending entry
    expect(tuner.lookup(dims(8, 8, 7))).toBeNull();
    expect(tuner.pendingClasses()).toEqual(["nn m128 n64 k64 b1 v4", "nn m8 n8 k8 b1"]);
    const measured: string[] = [];
    const fake = async (v: string, d: MatmulDims): Promise<number> => {
      measured.push(`${v} ${d.M}x${d.N}x${d.K}`);
      return v === "tiled" ? 1 : v === "register-scalar" && d.K === 64 ? 0.5 : 3;
    };
    expect(await tuner.tunePending(fake, undefined, idle)).toEqual(["nn m128 n64 k64 b1 v4", "nn m8 n8 k8 b1"]);
    expect(measured).toEqual(["register 100x64x64", "register-scalar 100x64x64", "tiled 100x64x64", "register 8x8x7", "tiled 8x8x7"]);
    expect(tuner.lookup(dims(128, 64, 64))).toBe("register-scalar");
    expect(tuner.lookup(dims(5, 5, 5))).toBe("tiled");
    expect(tuner.pendingClasses()).toEqual([]);
    expect(await tuner.tunePending(fake, undefined, idle)).toEqual([]); // nothing pending: nothing timed
    const again = new MatmulTuner("adapter X", path, candidates, () => {});
    expect(again.lookup(dims(128, 64, 64))).toBe("register-scalar");
    expect(again.pendingClasses()).toEqual([]);
    // Another adapter, or the same one with another set of candidates, times again.
    expect(new MatmulTuner("adapter Y", path, candidates, () => {}).lookup(dims(128, 64, 64))).toBeNull();
    expect(new MatmulTuner("adapter X", path, () => ["register", "register-vec4"], () => {}).lookup(dims(128, 64, 64))).toBeNull();
  });

  it("on a busy machine keeps the choices for this process only and says so", async () => {
    const path = join(tempDir(), "matmul-schedules.json");
    const tuner = new MatmulTuner("A", path, () => ["register", "tiled"], () => {});
    expect(tuner.lookup(dims(8, 8, 8))).toBeNull();
    const log: string[] = [];
    await tuner.tunePending(async (v) => (v === "tiled" ? 1 : 2), (m) => log.push(m), () => "load average 28.0 on 2 cores");
    expect(tuner.lookup(dims(8, 8, 8))).toBe("tiled");
    expect(log.at(-1)).toBe("acpo: matmul schedules timed on a busy machine (load average 28.0 on 2 cores): used for this run only, not saved");
    expect(readTuningFile(path, () => {}).adapters).toEqual({});
    expect(new MatmulTuner("A", path, () => ["register", "tiled"], () => {}).lookup(dims(8, 8, 8))).toBeNull();
  });

  it("a corrupt cache gives one warning and is replaced by the next tuning", async () => {
    const path = join(tempDir(), "matmul-schedules.json");
    writeFileSync(path, "\u0000garbage");
    const warnings: string[] = [];
    const tuner = new MatmulTuner("A", path, () => ["register", "tiled"], (m) => warnings.push(m));
    expect(tuner.lookup(dims(8, 8, 8))).toBeNull();
    expect(tuner.lookup(dims(16, 8, 8))).toBeNull();
    await tuner.tunePending(async (v) => (v === "tiled" ? 1 : 2), undefined, idle);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`ignoring the matmul schedule cache ${path}: not valid JSON`);
    expect(readTuningFile(path, (m) => warnings.push(m)).adapters.A!["nn m16 n8 k8 b1 v4"]!.variant).toBe("tiled");
  });
});

describe("matmul's choice on this adapter", () => {
  const saved = { ...process.env };
  beforeEach(() => {
    process.env.ACPO_CACHE_DIR = tempDir();
    delete process.env.ACPO_AUTOTUNE;
    delete process.env.ACPO_MATMUL;
  });
  afterEach(() => {
    for (const k of ["ACPO_CACHE_DIR", "ACPO_AUTOTUNE", "ACPO_MATMUL"]) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it("uses the tuned schedule for the call's class; ACPO_AUTOTUNE=0 gives the default and ACPO_MATMUL overrides both", async () => {
    const gpu = await testGpu();
    const def = gpu.info.isSoftware ? "register" : "tiled";
    const [M, N, K] = [37, 52, 24];
    const a = randArray(M * K, 1), b = randArray(K * N, 2);
    const ta = gpu.upload(a), tb = gpu.upload(b), out = gpu.empty([M, N]);
    matmul(gpu, out, ta, tb, { M, N, K }); // first meeting: the default runs and the class is pending
    const d = dims(M, N, K);
    expect(matmulTuner(gpu).pendingClasses()).toEqual([shapeClass(d)]);
    const candidates = tuningCandidates(gpu, d);
    expect(candidates[0]).toBe(def);
    expect(candidates).not.toContain("naive");
    const slowest = candidates.at(-1)!; // make the last candidate the fastest: not the default
    const timed: string[] = [];
    const tuned = await tuneMatmuls(gpu, { busy: idle, measure: async (v, m) => { timed.push(`${v} ${m.M}x${m.N}x${m.K}`); return v === slowest ? 1 : 2; } });
    expect(tuned).toEqual([shapeClass(d)]);
    expect(timed).toEqual(candidates.map((c) => `${c} ${M}x${N}x${K}`));
    expect(chooseMatmulVariant(gpu, dims(40, 60, 28))).toBe(slowest); // same class
    matmul(gpu, out, ta, tb, { M, N, K });
    const ref = new Float32Array(M * N);
    matmulRef(ref, a, b, { M, N, K });
    expectClose(await gpu.read(out), ref, 2e-6 * K, 1e-5, `tuned ${slowest}`);
    const file = JSON.parse(readFileSync(join(process.env.ACPO_CACHE_DIR!, "matmul-schedules.json"), "utf8"));
    expect(Object.values(file.adapters).map((c) => (c as Record<string, TunedEntry>)[shapeClass(d)]!.variant)).toEqual([slowest]);
    process.env.ACPO_AUTOTUNE = "0";
    expect(chooseMatmulVariant(gpu, d)).toBe(def);
    process.env.ACPO_MATMUL = "naive";
    expect(chooseMatmulVariant(gpu, d)).toBe("naive");
    delete process.env.ACPO_AUTOTUNE;
    expect(chooseMatmulVariant(gpu, d)).toBe("naive");
    expect(await tuneMatmuls(gpu, { measure: async () => { throw new Error("must not time under ACPO_MATMUL"); } })).toEqual([]);
    gpu.release(ta, tb, out);
  });

  it("offers each distinct kernel once: without vec4 loads every register form is the scalar kernel", async () => {
    const gpu = await testGpu();
    if (gpu.info.isSoftware) {
      expect(tuningCandidates(gpu, dims(7, 13, 5))).toEqual(["register", "tiled"]);
      expect(tuningCandidates(gpu, dims(8, 12, 4))).toEqual(hasSubgroups8(gpu) ? ["register", "tiled", "register-vec4", "register-scalar"] : ["register", "tiled", "register-scalar"]);
    } else {
      expect(tuningCandidates(gpu, dims(7, 13, 5))).toEqual(["tiled", "register"]);
    }
  });

  it("times every candidate for real on a small call and records a finite time for each", async () => {
    const gpu = await testGpu();
    const d = dims(16, 20, 12, { transB: true });
    const cls = shapeClass(d);
    expect(chooseMatmulVariant(gpu, d)).toBe(gpu.info.isSoftware ? "register" : "tiled"); // pending until tuned
    // The tuner of this device was made by the previous test: its file is there.
    const tuner = matmulTuner(gpu);
    expect(await tuneMatmuls(gpu)).toEqual([cls]);
    const e = tuner.entries()[cls]!;
    expect(Object.keys(e.ms)).toEqual(tuningCandidates(gpu, d));
    expect(Object.values(e.ms).every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
    // No other schedule beat the winner by the margin a replacement needs.
    expect(Object.values(e.ms).every((ms) => ms * (1 + MIN_GAIN) >= e.ms[e.variant]!)).toBe(true);
    expect(chooseMatmulVariant(gpu, d)).toBe(e.variant);
  });
});
