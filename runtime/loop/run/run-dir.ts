// A training run's directory, runs/<name>-<YYYYMMDD-HHMMSS>/ (or `--out DIR`): what a run
// leaves behind (spec/run.md). The loop calls, per optimizer step s (steps count from 1):
//   run.appendMetrics(m)        one StepMetrics line
//   run.appendSamples(lines)    a few trajectories (run-dir-samples.ts builds the lines)
//   run.appendEval(r)           when an eval is due
//   run.saveCheckpoint(data)    when a checkpoint is due, after the step's lines
// and `RunDir.open(dir)` for `--resume DIR` returns the newest complete checkpoint and cuts
// the .jsonl files back to its step, so the continued run appends exactly the lines an
// uninterrupted run would have written. A step's lines must be appended before its
// checkpoint: lines with step <= the checkpoint's step survive a resume, later ones do not.
// While a RunDir is open it holds the directory's lock (run-lock.ts); close() releases it.
import { existsSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { CheckpointError, atomicWrite } from "../../engine/model/safetensors.js";
import { errnoCode, writeErrorMessage } from "../../engine/write-errors.js";
import type { CheckpointData, LoadedCheckpoint } from "./checkpoint-files.js";
import { LATEST_FILE, checkpointName, findCheckpoint, saveRunCheckpoint, setAside } from "./checkpoint-store.js";
import { type ConfigInput, resolvedConfig } from "./run-dir-config.js";
import { JsonlWriter, RunDirError, metricsGaps, truncateJsonl } from "./run-dir-jsonl.js";
import { RunLock } from "./run-lock.js";
import type { SampleLine } from "./run-dir-samples.js";
import type { EvalRecord, StepMetrics } from "../rl/types.js";
import { ensureDir } from "../../engine/fs-errors.js";

export { RunDirError } from "./run-dir-jsonl.js";

export const METRICS_FILE = "metrics.jsonl";
export const EVAL_FILE = "eval.jsonl";
export const SAMPLES_FILE = "samples.jsonl";
export const CONFIG_FILE = "config.resolved.json";
const JSONL_FILES = [METRICS_FILE, EVAL_FILE, SAMPLES_FILE] as const;

export interface CreateOptions {
  /** The pipeline's name; the directory is <root>/<name>-<YYYYMMDD-HHMMSS>. */
  name: string;
  /**
   * `--out DIR`: use exactly this directory (created). It must not hold a run with a
   * checkpoint; a run that stopped before its first checkpoint is cleared and started over.
   */
  out?: string | null;
  /** Parent of generated run directories. Default "runs" (relative to the working directory). */
  root?: string;
  /** Clock for the directory name (local time). Default: now. */
  now?: Date;
  /** Checkpoints to keep (the newest K). Default 2. */
  keep?: number;
}

export interface Resumed {
  run: RunDir;
  /**
   * The state to continue from; checkpoint.dir is a model folder (`Policy.load(gpu, checkpoint.dir)`).
   * Null when the run stopped before its first checkpoint: its .jsonl files were removed and
   * it starts over from step 0 with its stored configuration.
   */
  checkpoint: LoadedCheckpoint | null;
  /** Routine messages: leftovers removed, lines after the checkpoint dropped to be written again. */
  notes: string[];
  /** What the user must know: lost or damaged records, broken checkpoints passed over, a stale lock taken over, a start-over. */
  warnings: string[];
}

/** YYYYMMDD-HHMMSS in local time. */
export function timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getFullYear(), 4)}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A name safe in a path on every platform. */
const safeName = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, "_") || "run";

function holdsRun(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((f) => f === CONFIG_FILE || (JSONL_FILES as readonly string[]).includes(f) || f.startsWith("checkpoint-"));
}

/** Whether `dir` holds a checkpoint, or traces of one (set aside as broken, a deletion cut short); a write cut short does not count. */
function hasCheckpoints(dir: string): boolean {
  return readdirSync(dir).some((f) => f.startsWith("checkpoint-") && !/\.tmp-\d+$/.test(f));
}

/** Remove the files of a run that never reached a checkpoint (keeping config.resolved.json when asked); returns their names. */
function clearUncheckpointed(dir: string, keepConfig: boolean): string[] {
  const names = [...JSONL_FILES, LATEST_FILE, ...(keepConfig ? [] : [CONFIG_FILE])];
  const leftovers = readdirSync(dir).filter((f) => /^checkpoint-\d+\.tmp-\d+$/.test(f));
  const removed = [...names.filter((f) => existsSync(join(dir, f))), ...leftovers];
  for (const f of removed) rmSync(join(dir, f), { recursive: true, force: true });
  return removed;
}

function readConfigFile(p: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new RunDirError(`${p}: cannot read (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new RunDirError(`${p}: not a JSON object; the run's configuration is damaged`);
  return v as Record<string, unknown>;
}

const removedText = (names: string[]): string => (names.length ? `removed ${names.join(", ")}` : "nothing to remove");

export class RunDir {
  private readonly writers = new Map<string, JsonlWriter>();
  private closed = false;

  private constructor(
    readonly path: string,
    readonly keep: number,
    private readonly lock: RunLock,
    /** Messages from opening it that the user must see (a stale lock taken over, a run started over). */
    readonly warnings: string[] = [],
  ) {}

  /** A new run directory. Two runs started in the same second get -2, -3, ... suffixes. */
  static create(opts: CreateOptions): RunDir {
    const keep = opts.keep ?? 2;
    const warnings: string[] = [];
    let path: string;
    let lock: RunLock | null = null;
    if (opts.out) {
      path = resolve(opts.out);
      if (holdsRun(path)) {
        if (hasCheckpoints(path)) throw new RunDirError(`${path}: already holds a run; continue it with --resume ${opts.out}, or choose another --out`);
        // A run killed (or failed) before its first checkpoint cannot be resumed: start it over.
        lock = RunLock.acquire(path, warnings);
        warnings.push(`${path}: held a run that stopped before its first checkpoint; starting a new run there (${removedText(clearUncheckpointed(path, false))})`);
      }
    } else {
      const base = join(resolve(opts.root ?? "runs"), `${safeName(opts.name)}-${timestamp(opts.now ?? new Date())}`);
      path = base;
      for (let k = 2; existsSync(path); k++) path = `${base}-${k}`;
    }
    try {
      ensureDir(path);
    } catch (e) {
      lock?.release();
      throw new RunDirError(writeErrorMessage(path, "create the run directory", e));
    }
    lock ??= RunLock.acquire(path, warnings);
    return new RunDir(path, keep, lock, warnings);
  }

  /**
   * An existing run, for `--resume`, locked: the newest checkpoint that reads back and
   * verifies (broken newer ones are moved aside as checkpoint-<n>.broken and reported), with
   * every .jsonl cut back to its step. A run without any checkpoint is cleared to start over
   * (checkpoint null). Throws RunDirError when its checkpoints are all unusable.
   */
  static open(path: string, opts: { keep?: number } = {}): Resumed {
    const dir = RunDir.existing(path);
    const warnings: string[] = [];
    // The lock comes first: the steps below cut files another live process may be writing.
    const lock = RunLock.acquire(dir, warnings);
    try {
      const r = RunDir.recover(dir, warnings);
      return { run: new RunDir(dir, opts.keep ?? 2, lock, warnings), ...r, warnings };
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** The absolute path of an existing run directory (one with config.resolved.json); RunDirError otherwise. */
  private static existing(path: string): string {
    const dir = resolve(path);
    if (!existsSync(dir)) throw new RunDirError(`${dir}: no such run directory`);
    if (!existsSync(join(dir, CONFIG_FILE))) throw new RunDirError(`${dir}: not a run directory (no ${CONFIG_FILE}); a run that failed before writing it is started again with --out ${path}`);
    return dir;
  }

  /** config.resolved.json of the run at `path`, read without opening (locking) the run: it is written once, at the start. */
  static storedConfig(path: string): Record<string, unknown> {
    return readConfigFile(join(RunDir.existing(path), CONFIG_FILE));
  }

  /** The checkpoint to continue from and the files cut back to it (open's work under the lock). */
  private static recover(dir: string, warnings: string[]): { checkpoint: LoadedCheckpoint | null; notes: string[] } {
    const found = findCheckpoint(dir);
    const notes = [...found.notes];
    warnings.push(...found.warnings);
    if (!found.checkpoint && found.broken.length === 0) {
      warnings.push(`${dir}: the run stopped before its first checkpoint; starting it over from step 0 with its stored configuration (${CONFIG_FILE}; ${removedText(clearUncheckpointed(dir, true))})`);
      return { checkpoint: null, notes };
    }
    if (!found.checkpoint) {
      throw new RunDirError(`${dir}: no complete checkpoint to resume from; every checkpoint is unusable:\n  ${found.broken.map((b) => b.reason).join("\n  ")}`);
    }
    for (const b of found.broken) warnings.push(`moved the unusable ${b.name} aside to ${setAside(dir, b.name)}`);
    const step = found.checkpoint.step;
    for (const f of JSONL_FILES) {
      const path = join(dir, f);
      if (f === METRICS_FILE && !existsSync(path)) {
        warnings.push(`${path}: missing, although the run writes a line per step before each checkpoint (step ${step}); the metrics of steps 1-${step} are lost and the resumed run continues without them`);
        continue;
      }
      const r = truncateJsonl(path, step);
      const cut = r.partialLine;
      if (cut && cut.step !== null && cut.step <= step) warnings.push(`${path}:${cut.line}: the line of step ${cut.step} was cut short although the checkpoint at step ${step} comes after it; removed it (that step's record is lost)`);
      else if (cut) notes.push(`${path}:${cut.line}: removed a last line cut short by the interruption`);
      if (r.dropped) notes.push(`${path}: dropped ${r.dropped} line${r.dropped === 1 ? "" : "s"} after step ${step}, to be written again`);
      if (f === METRICS_FILE) warnings.push(...metricsGaps(path, r.keptLines, step));
    }
    return { checkpoint: found.checkpoint, notes };
  }

  /** Write config.resolved.json (atomically). */
  writeConfig(c: ConfigInput, created = new Date()): void {
    const text = `${JSON.stringify(resolvedConfig(c, created), null, 2)}\n`;
    const p = join(this.path, CONFIG_FILE);
    try {
      atomicWrite(p, (fd) => writeSync(fd, text));
    } catch (e) {
      throw new RunDirError(writeErrorMessage(p, "write the run's configuration", e));
    }
  }

  /** config.resolved.json as written. */
  readConfig(): Record<string, unknown> {
    return readConfigFile(join(this.path, CONFIG_FILE));
  }

  private writer(file: string): JsonlWriter {
    let w = this.writers.get(file);
    if (!w) {
      w = new JsonlWriter(join(this.path, file), `then continue with --resume ${this.path}`);
      this.writers.set(file, w);
    }
    return w;
  }

  appendMetrics(m: StepMetrics): void {
    this.writer(METRICS_FILE).append([m]);
  }

  appendEval(r: EvalRecord): void {
    this.writer(EVAL_FILE).append([r]);
  }

  /** One step's sample lines, in one write. Each line must carry that step's `step`. */
  appendSamples(lines: readonly SampleLine[]): void {
    this.writer(SAMPLES_FILE).append(lines);
  }

  /**
   * Save checkpoint-<step>/ atomically (after flushing the .jsonl files); returns its path.
   * A failed write leaves the previous checkpoints as they were.
   */
  saveCheckpoint(data: CheckpointData): string {
    for (const w of this.writers.values()) w.sync();
    try {
      return saveRunCheckpoint(this.path, data, this.keep);
    } catch (e) {
      if (e instanceof CheckpointError || errnoCode(e) === null) throw e;
      const at = join(this.path, checkpointName(data.step));
      throw new RunDirError(writeErrorMessage(at, "write the checkpoint", e, `the previous checkpoints are intact; then continue with --resume ${this.path}`));
    }
  }

  /** Close the files and release the lock; closing again does nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const w of this.writers.values()) w.close();
    } finally {
      this.writers.clear();
      this.lock.release();
    }
  }
}
