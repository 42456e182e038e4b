// Reading a run directory for reports: metrics.jsonl, eval.jsonl, samples.jsonl and
// config.resolved.json (runtime/loop/rl/types.ts and spec/batch.md define the records). Every
// file but metrics.jsonl is optional, so a run killed early still reports what it has;
// a malformed line of metrics or eval is an error naming the file and line, never silently
// skipped; a samples line the viewer cannot show is left out and reported (RunData.problems).
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { readLines } from "../../engine/line-reader.js";
import { RunDirError } from "../run/run-dir-jsonl.js";
import { sampleProblem } from "./sample-check.js";

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
  /** Lines left out of the report, each "file:line: what is wrong; line left out". */
  problems: string[];
}


export const RUN_FILES = {
  metrics: "metrics.jsonl",
  evals: "eval.jsonl",
  samples: "samples.jsonl",
  config: "config.resolved.json",
} as const;

/**
 * Longest line of a run file, in bytes. The loop's longest lines are samples with six
 * per-token arrays (about 1 MB at 8k tokens); the limit keeps a damaged or foreign file
 * from being read whole.
 */
export const MAX_RUN_LINE_BYTES = 16 << 20;

/** A record with the line it came from. */
export interface JsonlRecord {
  line: number;
  value: Record<string, unknown>;
}

/**
 * The records of a JSON-lines file: blank lines are allowed; a line that is not a JSON object
 * goes to `bad` (file:line and what is wrong). A run killed mid-write leaves a partial last
 * line (no newline after it): that is the only line forgiven silently.
 */
export function readJsonlRecords(path: string): { records: JsonlRecord[]; bad: { line: number; problem: string }[] } {
  const records: JsonlRecord[] = [];
  const bad: { line: number; problem: string }[] = [];
  for (const { no, text, terminated } of readLines(path, { maxLineBytes: MAX_RUN_LINE_BYTES, error: (what) => new RunDirError(what) })) {
    if (text.trim() === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      if (!terminated) continue;
      bad.push({ line: no, problem: `not valid JSON (${(e as Error).message})` });
      continue;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) bad.push({ line: no, problem: "expected a JSON object" });
    else records.push({ line: no, value: v as Record<string, unknown> });
  }
  return { records, bad };
}

/** Parse a JSON-lines file into objects; any line that is not a JSON object is an error naming file:line. */
export function readJsonl(path: string): Record<string, unknown>[] {
  const { records, bad } = readJsonlRecords(path);
  if (bad.length > 0) throw new RunDirError(`${path}:${bad[0]!.line}: ${bad[0]!.problem}`);
  return records.map((r) => r.value);
}

/**
 * samples.jsonl, which only the trajectory viewer reads: a line the viewer cannot show is
 * left out and reported (file:line: what is wrong), so one bad line costs one trajectory,
 * not the page.
 */
function readSamples(path: string): { samples: Record<string, unknown>[]; problems: string[] } {
  const { records, bad } = readJsonlRecords(path);
  const samples: Record<string, unknown>[] = [];
  for (const r of records) {
    const problem = sampleProblem(r.value);
    if (problem === null) samples.push(r.value);
    else bad.push({ line: r.line, problem });
  }
  bad.sort((a, b) => a.line - b.line);
  return { samples, problems: bad.map((b) => `${path}:${b.line}: ${b.problem}; line left out`) };
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
    if (typeof config !== "object" || config === null || Array.isArray(config)) throw new RunDirError(`${file(RUN_FILES.config)}: expected a JSON object`);
  }
  const { samples, problems } = existsSync(file(RUN_FILES.samples)) ? readSamples(file(RUN_FILES.samples)) : { samples: [], problems: [] };
  return { name: basename(abs), dir: abs, metrics: readJsonl(file(RUN_FILES.metrics)), evals: opt(RUN_FILES.evals), samples, config, problems };
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
