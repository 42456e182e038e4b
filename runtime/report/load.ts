// Reading a run directory for reports: metrics.jsonl, eval.jsonl, samples.jsonl and
// config.resolved.json (runtime/rl/types.ts and spec/batch.md define the records). Every
// file but metrics.jsonl is optional, so a run killed early still reports what it has;
// a malformed line is an error naming the file and line, never silently skipped.
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { RunDirError } from "../rl/run-dir-jsonl.js";

export { RunDirError };

/** A run as a report reads it: records as written (JSON null stands for NaN). */
export interface RunData {
  /** Label in legends and selectors: the directory's name (`<pipeline>-<time>`). */
  name: string;
  dir: string;
  metrics: Record<string, unknown>[];
  evals: Record<string, unknown>[];
  samples: Record<string, unknown>[];
  /** config.resolved.json, or null when the run has none. */
  config: Record<string, unknown> | null;
}


export const RUN_FILES = {
  metrics: "metrics.jsonl",
  evals: "eval.jsonl",
  samples: "samples.jsonl",
  config: "config.resolved.json",
} as const;

/** Parse a JSON-lines file into objects; blank lines are allowed, anything else must be an object. */
export function readJsonl(path: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      // A run killed mid-write leaves a partial last line (no newline after it); that is the only line we forgive.
      if (i === lines.length - 1) return;
      throw new RunDirError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new RunDirError(`${path}:${i + 1}: expected a JSON object`);
    out.push(v as Record<string, unknown>);
  });
  return out;
}

export function loadRun(dir: string): RunData {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new RunDirError(`${dir}: not a directory`);
  const file = (f: string) => join(abs, f);
  if (!existsSync(file(RUN_FILES.metrics))) throw new RunDirError(`${dir}: not a run directory (no ${RUN_FILES.metrics})`);
  const opt = (f: string) => (existsSync(file(f)) ? readJsonl(file(f)) : []);
  let config: Record<string, unknown> | null = null;
  if (existsSync(file(RUN_FILES.config))) {
    try {
      config = JSON.parse(readFileSync(file(RUN_FILES.config), "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new RunDirError(`${file(RUN_FILES.config)}: not valid JSON (${(e as Error).message})`);
    }
  }
  return { name: basename(abs), dir: abs, metrics: readJsonl(file(RUN_FILES.metrics)), evals: opt(RUN_FILES.evals), samples: opt(RUN_FILES.samples), config };
}

/** Load several runs; names made unique (`name`, `name (2)`) so legends stay unambiguous. */
export function loadRuns(dirs: readonly string[]): RunData[] {
  if (dirs.length === 0) throw new RunDirError("no run directories given");
  const runs = dirs.map(loadRun);
  const seen = new Map<string, number>();
  for (const r of runs) {
    const n = (seen.get(r.name) ?? 0) + 1;
    seen.set(r.name, n);
    if (n > 1) r.name = `${r.name} (${n})`;
  }
  return runs;
}

/** The model folder a run's config names, wherever the resolved config keeps it. */
export function modelPathOf(config: Record<string, unknown> | null): string | null {
  if (!config) return null;
  const candidates = [config.model, (config.pipeline as Record<string, unknown> | undefined)?.model];
  for (const m of candidates) {
    if (typeof m === "string") return m;
    if (m && typeof m === "object" && typeof (m as { path?: unknown }).path === "string") return (m as { path: string }).path;
  }
  return null;
}

/** A number from a record field; null for JSON null, NaN, missing or non-numeric. */
export function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
