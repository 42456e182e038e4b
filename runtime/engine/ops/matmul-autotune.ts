// Matmul schedules chosen by measurement. The same schedule runs at very different speeds on
// different adapters (51 GFLOP/s on one CPU, 17-29 on another), so instead of a choice
// hard-wired per vendor, the first time an adapter meets a shape class every candidate
// schedule is timed on scratch buffers and the fastest one is kept, in memory and in a JSON
// file under the cache directory, keyed by adapter and shape class. Every schedule is tested
// against matmul.ref.ts, so the choice changes speed, never meaning (results agree to fp32
// rounding); correctness is not re-checked here.
//
// matmul() is synchronous (it records work) and timing needs to wait for the GPU, so a
// lookup that misses only notes the class as pending and the default schedule runs; the
// caller tunes the pending classes at a point where it may wait (`tuneMatmuls` in matmul.ts;
// the training loop does it after its first step).
//
// Environment: ACPO_MATMUL=<schedule> overrides everything; ACPO_AUTOTUNE=0 turns tuning and
// the cache off (the built-in default per adapter; the test suite runs this way);
// ACPO_CACHE_DIR, else $XDG_CACHE_HOME/acpo, else ~/.cache/acpo, holds the cache file.
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, homedir, loadavg } from "node:os";
import { dirname, join } from "node:path";
import type { AdapterSummary } from "../gpu.js";

/** What a matmul call looks like to the tuner: its sizes, layout and batch strides. */
export interface MatmulDims {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  strideA: number;
  strideB: number;
}

/** One tuned shape class: the winner, and the time of every candidate that was measured. */
export interface TunedEntry {
  variant: string;
  /** Milliseconds per dispatch of each candidate (the winner's is the smallest). */
  ms: Record<string, number>;
  /** The candidates that were timed: a cached choice made among another set is timed again. */
  candidates: string[];
  /** The call the class was timed on, "MxNxK xbatch". */
  timedOn: string;
}

/** The file: entries by adapter key, then by shape class. */
export interface TuningFile {
  format: typeof FORMAT;
  version: 1;
  adapters: Record<string, Record<string, TunedEntry>>;
}

const FORMAT = "acpo-matmul-schedules";
export const CACHE_FILE_NAME = "matmul-schedules.json";

/** Smallest power of two >= n (1 for n <= 1): the bucket of one dimension. */
export function pow2Bucket(n: number): number {
  let b = 1;
  while (b < n) b *= 2;
  return b;
}

/**
 * The shape class of a call: layout, each dimension rounded up to a power of two, and
 * whether the 16-byte (vec4) loads apply, which changes which kernels a schedule runs.
 * Example: "nt m2048 n256 k1024 b1 v4".
 */
export function shapeClass(d: MatmulDims): string {
  const aDim = d.transA ? d.M : d.K;
  const bDim = d.transB ? d.K : d.N;
  // As register-vec4.ts's vec4Applies: K need not be a multiple of 4 when A is (K, M) and B (K, N).
  const kOk = d.K % 4 === 0 || (d.transA && !d.transB);
  const v4 = kOk && aDim % 4 === 0 && bDim % 4 === 0 && d.strideA % 4 === 0 && d.strideB % 4 === 0;
  return `${d.transA ? "t" : "n"}${d.transB ? "t" : "n"} m${pow2Bucket(d.M)} n${pow2Bucket(d.N)} k${pow2Bucket(d.K)} b${pow2Bucket(d.batch)}${v4 ? " v4" : ""}`;
}

/**
 * The adapter a measurement holds for: vendor, architecture, device, driver description and
 * backend, plus, for a software adapter (whose speed is the CPU's), the CPU model and the
 * number of cores it may use.
 */
export function adapterKey(info: Pick<AdapterSummary, "vendor" | "architecture" | "device" | "description" | "backend" | "isSoftware">, cpu: { model: string; cores: number } = hostCpu()): string {
  const parts = [info.vendor, info.architecture, info.device, info.description, info.backend];
  if (info.isSoftware) parts.push(`cpu ${cpu.model} x${cpu.cores}`);
  return parts.map((p) => p || "-").join(" | ");
}

function hostCpu(): { model: string; cores: number } {
  return { model: cpus()[0]?.model.trim() ?? "unknown", cores: availableParallelism() };
}

/** ACPO_AUTOTUNE=0 (or "off", "false", "no") turns tuning and the cache off. */
export function autotuneEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.ACPO_AUTOTUNE?.trim().toLowerCase();
  return !(v === "0" || v === "off" || v === "false" || v === "no");
}

/** The cache file: $ACPO_CACHE_DIR, else $XDG_CACHE_HOME/acpo, else ~/.cache/acpo. */
export function tuningCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.ACPO_CACHE_DIR || (env.XDG_CACHE_HOME ? join(env.XDG_CACHE_HOME, "acpo") : join(homedir(), ".cache", "acpo"));
  return join(dir, CACHE_FILE_NAME);
}

const emptyFile = (): TuningFile => ({ format: FORMAT, version: 1, adapters: {} });

/**
 * Read the cache file. A missing file is an empty cache; an unreadable or malformed one is
 * reported with one line through `warn` (naming the file) and treated as empty: a cache must
 * never stop a run.
 */
export function readTuningFile(path: string, warn: (msg: string) => void): TuningFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptyFile();
    warn(`acpo: ignoring the matmul schedule cache ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    return emptyFile();
  }
  const why = (reason: string): TuningFile => {
    warn(`acpo: ignoring the matmul schedule cache ${path}: ${reason}; it will be rewritten`);
    return emptyFile();
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return why(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(data) || data.format !== FORMAT) return why(`not an acpo matmul schedule file (no "format": "${FORMAT}")`);
  if (data.version !== 1) return why(`version ${JSON.stringify(data.version)}, this acpo reads version 1`);
  if (!isObject(data.adapters)) return why(`"adapters" is not an object`);
  const adapters: TuningFile["adapters"] = {};
  for (const [key, classes] of Object.entries(data.adapters)) {
    if (!isObject(classes)) continue;
    adapters[key] = {};
    for (const [cls, entry] of Object.entries(classes)) if (isEntry(entry)) adapters[key]![cls] = entry;
  }
  return { format: FORMAT, version: 1, adapters };
}

/**
 * Add `entries` (for one adapter) to the file and write it atomically: a temporary file in the
 * same directory, then a rename, so a reader never sees half a file. The file is read again
 * first, so that classes another process tuned meanwhile are kept. Failure to write (a
 * read-only home, a full disk) is one warning: the choices still hold for this process.
 */
export function writeTuningEntries(path: string, adapter: string, entries: Record<string, TunedEntry>, warn: (msg: string) => void): void {
  const file = readTuningFile(path, () => {}); // a corrupt file was already reported when loaded
  file.adapters[adapter] = { ...file.adapters[adapter], ...entries };
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, `${JSON.stringify(file, null, 1)}\n`);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    warn(`acpo: could not save the matmul schedule cache ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); schedules will be timed again next run`);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isEntry(x: unknown): x is TunedEntry {
  return isObject(x) && typeof x.variant === "string" && isObject(x.ms) && Array.isArray(x.candidates) && x.candidates.every((c) => typeof c === "string") && typeof x.timedOn === "string";
}

/**
 * A later candidate must be this much faster than the best so far to replace it: timing noise
 * on a shared machine then does not flip the choice between two schedules of equal speed,
 * and the first candidate (the adapter's default) keeps a near tie.
 */
export const MIN_GAIN = 0.1;

/**
 * Time each candidate and return the fastest, where a later candidate wins only when it is
 * at least MIN_GAIN faster than the best so far, so the choice is a pure function of the
 * measurements. `measure` gets the best time so far, to cut short a candidate that is already slower.
 */
export async function chooseFastest(candidates: readonly string[], measure: (candidate: string, bestSoFar: number) => Promise<number>): Promise<{ best: string; ms: Record<string, number> }> {
  if (candidates.length === 0) throw new Error("chooseFastest: no candidates");
  const ms: Record<string, number> = {};
  let best = candidates[0]!;
  let bestMs = Infinity;
  for (const c of candidates) {
    const t = await measure(c, bestMs);
    ms[c] = t;
    if (t * (1 + MIN_GAIN) < bestMs || (bestMs === Infinity && t < bestMs)) {
      best = c;
      bestMs = t;
    }
  }
  return { best, ms };
}

/**
 * Why timings taken now should not outlive this process, or null: on a machine whose load
 * average exceeds twice its cores, other processes decide the times (measured: at load 28 on
 * 2 cores the choice flipped between schedules 5x apart), so such choices are not saved.
 * Twice, because the run that tunes loads the machine itself: a software adapter's worker
 * thread per core, plus the thread waiting for them.
 */
export function busyMachine(): string | null {
  const load = loadavg()[0]!;
  const cores = availableParallelism();
  return load > 2 * cores ? `load average ${load.toFixed(1)} on ${cores} cores` : null;
}

/** Times one candidate schedule on a call of the given dims, in milliseconds per dispatch. */
export type MeasureSchedule = (variant: string, dims: MatmulDims, bestSoFarMs: number) => Promise<number>;

/**
 * The tuning state of one device: the cached table for its adapter (loaded on first use)
 * and the shape classes met but not yet tuned.
 */
export class MatmulTuner {
  private table: Record<string, TunedEntry> | null = null;
  private readonly pending = new Map<string, MatmulDims>();
  /** Classes already looked up and found (matmul asks on every call: keep the hot path a map lookup). */
  private readonly resolved = new Map<string, string>();

  constructor(
    readonly adapter: string,
    readonly path: string,
    /** Candidate schedules for a call; their order breaks ties. */
    private readonly candidatesFor: (d: MatmulDims) => string[],
    private readonly warn: (msg: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {}

  /** The tuned schedule for this call's class, or null (the class is then pending). */
  lookup(d: MatmulDims): string | null {
    const cls = shapeClass(d);
    const known = this.resolved.get(cls);
    if (known !== undefined) return known;
    const hit = this.entries()[cls];
    if (hit && sameSet(hit.candidates, this.candidatesFor(d)) && hit.candidates.includes(hit.variant)) {
      this.resolved.set(cls, hit.variant);
      return hit.variant;
    }
    if (!this.pending.has(cls)) this.pending.set(cls, { ...d });
    return null;
  }

  /** Shape classes met and not tuned yet. */
  pendingClasses(): string[] {
    return [...this.pending.keys()];
  }

  /** The adapter's tuned classes (from the cache file and this process). */
  entries(): Record<string, TunedEntry> {
    this.table ??= readTuningFile(this.path, this.warn).adapters[this.adapter] ?? {};
    return this.table;
  }

  /**
   * Time the candidates of every pending class (on the call first met in it), keep the
   * fastest, and save the new choices to the cache file unless `busy` gives a reason not to
   * (they then hold for this process only). Returns the classes tuned.
   */
  async tunePending(measure: MeasureSchedule, log?: (msg: string) => void, busy: () => string | null = busyMachine): Promise<string[]> {
    if (this.pending.size === 0) return [];
    const work = [...this.pending];
    log?.(`acpo: timing matmul schedules for ${work.length} new shape class(es) on this adapter (once; cached in ${this.path})`);
    const tuned: Record<string, TunedEntry> = {};
    for (const [cls, d] of work) {
      const candidates = this.candidatesFor(d);
      const { best, ms } = await chooseFastest(candidates, (c, bestSoFar) => measure(c, d, bestSoFar));
      tuned[cls] = { variant: best, ms, candidates, timedOn: `${d.M}x${d.N}x${d.K} x${d.batch}` };
      this.pending.delete(cls);
    }
    Object.assign(this.entries(), tuned);
    const why = busy();
    if (why) log?.(`acpo: matmul schedules timed on a busy machine (${why}): used for this run only, not saved`);
    else writeTuningEntries(this.path, this.adapter, tuned, this.warn);
    return Object.keys(tuned);
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
