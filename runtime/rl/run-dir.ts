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
import { existsSync, mkdirSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { atomicWrite } from "../model/safetensors.js";
import type { CheckpointData, LoadedCheckpoint } from "./checkpoint-files.js";
import { findCheckpoint, saveRunCheckpoint, setAside } from "./checkpoint-store.js";
import { type ConfigInput, resolvedConfig } from "./run-dir-config.js";
import { JsonlWriter, RunDirError, truncateJsonl } from "./run-dir-jsonl.js";
import type { SampleLine } from "./run-dir-samples.js";
import type { EvalRecord, StepMetrics } from "./types.js";

export { RunDirError } from "./run-dir-jsonl.js";

export const METRICS_FILE = "metrics.jsonl";
export const EVAL_FILE = "eval.jsonl";
export const SAMPLES_FILE = "samples.jsonl";
export const CONFIG_FILE = "config.resolved.json";
const JSONL_FILES = [METRICS_FILE, EVAL_FILE, SAMPLES_FILE] as const;

export interface CreateOptions {
  /** The pipeline's name; the directory is <root>/<name>-<YYYYMMDD-HHMMSS>. */
  name: string;
  /** `--out DIR`: use exactly this directory (created; must not already hold a run). */
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
  /** The state to continue from; checkpoint.dir is a model folder (`Policy.load(gpu, checkpoint.dir)`). */
  checkpoint: LoadedCheckpoint;
  /** Messages for the user: leftovers removed, broken checkpoints passed over, lines dropped. */
  notes: string[];
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

export class RunDir {
  private readonly writers = new Map<string, JsonlWriter>();

  private constructor(
    readonly path: string,
    readonly keep: number,
  ) {}

  /** A new run directory. Two runs started in the same second get -2, -3, ... suffixes. */
  static create(opts: CreateOptions): RunDir {
    const keep = opts.keep ?? 2;
    let path: string;
    if (opts.out) {
      path = resolve(opts.out);
      if (holdsRun(path)) throw new RunDirError(`${path}: already holds a run; continue it with --resume ${opts.out}, or choose another --out`);
    } else {
      const base = join(resolve(opts.root ?? "runs"), `${safeName(opts.name)}-${timestamp(opts.now ?? new Date())}`);
      path = base;
      for (let k = 2; existsSync(path); k++) path = `${base}-${k}`;
    }
    try {
      mkdirSync(path, { recursive: true });
    } catch (e) {
      throw new RunDirError(`${path}: cannot create the run directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return new RunDir(path, keep);
  }

  /**
   * An existing run, for `--resume`: the newest checkpoint that reads back completely (broken
   * newer ones are moved aside as checkpoint-<n>.broken and reported), with every .jsonl cut
   * back to its step. Throws RunDirError when the directory holds no usable checkpoint.
   */
  static open(path: string, opts: { keep?: number } = {}): Resumed {
    const dir = resolve(path);
    if (!existsSync(dir)) throw new RunDirError(`${dir}: no such run directory`);
    if (!existsSync(join(dir, CONFIG_FILE))) throw new RunDirError(`${dir}: not a run directory (no ${CONFIG_FILE})`);
    const found = findCheckpoint(dir);
    const notes = [...found.notes];
    if (!found.checkpoint) {
      const why = found.broken.length ? `; every checkpoint is unusable:\n  ${found.broken.map((b) => b.reason).join("\n  ")}` : " (the run stopped before its first checkpoint)";
      throw new RunDirError(`${dir}: no complete checkpoint to resume from${why}`);
    }
    for (const b of found.broken) notes.push(`moved the unusable ${b.name} aside to ${setAside(dir, b.name)}`);
    const step = found.checkpoint.step;
    for (const f of JSONL_FILES) {
      const r = truncateJsonl(join(dir, f), step);
      if (r.partial) notes.push(`${join(dir, f)}: removed a last line cut short by the interruption`);
      if (r.dropped) notes.push(`${join(dir, f)}: dropped ${r.dropped} line${r.dropped === 1 ? "" : "s"} after step ${step}, to be written again`);
    }
    return { run: new RunDir(dir, opts.keep ?? 2), checkpoint: found.checkpoint, notes };
  }

  /** Write config.resolved.json (atomically). */
  writeConfig(c: ConfigInput, created = new Date()): void {
    const text = `${JSON.stringify(resolvedConfig(c, created), null, 2)}\n`;
    atomicWrite(join(this.path, CONFIG_FILE), (fd) => writeSync(fd, text));
  }

  /** config.resolved.json as written. */
  readConfig(): Record<string, unknown> {
    const p = join(this.path, CONFIG_FILE);
    try {
      return JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new RunDirError(`${p}: cannot read (${(e as Error).message})`);
    }
  }

  private writer(file: string): JsonlWriter {
    let w = this.writers.get(file);
    if (!w) {
      w = new JsonlWriter(join(this.path, file));
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

  /** Save checkpoint-<step>/ atomically (after flushing the .jsonl files); returns its path. */
  saveCheckpoint(data: CheckpointData): string {
    for (const w of this.writers.values()) w.sync();
    return saveRunCheckpoint(this.path, data, this.keep);
  }

  close(): void {
    for (const w of this.writers.values()) w.close();
    this.writers.clear();
  }
}
