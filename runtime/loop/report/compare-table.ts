// The table `acpo compare` prints: each pipeline's final Acc@k and pass@k over seeds (mean,
// sample std, 95 % t-interval) and its difference from the first pipeline with a paired
// 95 % t-interval (runs with the same seed share prompts and sampling noise, so pairing by
// seed removes variation both methods share).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Interval, diffInterval, mean, meanInterval, stdSample } from "../eval/estimators.js";
import { RUN_FILES, readJsonl } from "./load.js";

/** One finished run: which pipeline and seed, and its final evaluation's metrics. */
export interface SeedResult {
  pipeline: string;
  seed: number;
  runDir: string;
  step: number;
  split: string;
  /** e.g. { "acc@8": 0.41, "pass@8": 0.77 } */
  metrics: Record<string, number>;
}

export interface MetricSummary {
  metric: string;
  /** One per seed, in the comparison's seed order. */
  values: number[];
  mean: number;
  sd: number;
  interval: Interval;
  /** This pipeline minus the first, paired by seed; null for the first pipeline. */
  diff: Interval | null;
}

export interface Comparison {
  seeds: number[];
  metrics: string[];
  rows: { pipeline: string; metrics: MetricSummary[] }[];
  step: number;
  split: string;
}

/** The last evaluation in a run's eval.jsonl (the held-out split when both were evaluated). */
export function finalEval(runDir: string): { step: number; split: string; metrics: Record<string, number> } | null {
  const path = join(runDir, RUN_FILES.evals);
  if (!existsSync(path)) return null;
  const recs = readJsonl(path).filter((r) => typeof r.step === "number");
  if (recs.length === 0) return null;
  const last = Math.max(...recs.map((r) => r.step as number));
  const atLast = recs.filter((r) => r.step === last);
  const rec = atLast.find((r) => r.split === "test") ?? atLast.at(-1)!;
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries((rec.metrics ?? {}) as Record<string, unknown>)) metrics[k] = typeof v === "number" ? v : NaN; // null: NaN
  return { step: last, split: typeof rec.split === "string" ? rec.split : "test", metrics };
}

const REPORTED = /^(acc|pass)@\d+$/;

/** Summaries per pipeline (in `pipelines` order) over `seeds`; every (pipeline, seed) must have a result. */
export function summarize(results: readonly SeedResult[], pipelines: readonly string[], seeds: readonly number[]): Comparison {
  const get = (p: string, s: number) => {
    const r = results.find((x) => x.pipeline === p && x.seed === s);
    if (!r) throw new Error(`compare: no result for ${p} with seed ${s}`);
    return r;
  };
  const first = get(pipelines[0]!, seeds[0]!);
  const metrics = Object.keys(first.metrics).filter((m) => REPORTED.test(m) && results.every((r) => m in r.metrics));
  if (metrics.length === 0) throw new Error(`compare: the runs' final evaluations share no acc@k or pass@k metric (${first.runDir} has ${Object.keys(first.metrics).join(", ") || "none"})`);
  const valuesOf = (p: string, m: string) => seeds.map((s) => get(p, s).metrics[m]!);
  const rows = pipelines.map((p, i) => ({
    pipeline: p,
    metrics: metrics.map((m): MetricSummary => {
      const values = valuesOf(p, m);
      return { metric: m, values, mean: mean(values), sd: stdSample(values), interval: meanInterval(values), diff: i === 0 ? null : diffInterval(values, valuesOf(pipelines[0]!, m), { paired: true }) };
    }),
  }));
  return { seeds: [...seeds], metrics, rows, step: Math.max(...results.map((r) => r.step)), split: first.split };
}

const pct = (x: number) => (Number.isNaN(x) ? "n/a" : (100 * x).toFixed(1));
const pts = (x: number) => (Number.isNaN(x) ? "n/a" : `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}`);

function metricLabel(m: string): string {
  const [kind, k] = m.split("@");
  return `${kind === "acc" ? "Acc" : "pass"}@${k}`;
}

/** A plain-text table: percentages; differences in percentage points. `rowHeader` names the first column (sweep: "cell"). */
export function formatComparison(c: Comparison, rowHeader = "pipeline"): string {
  const base = c.rows[0]!.pipeline;
  const header = [rowHeader];
  for (const m of c.metrics) header.push(`${metricLabel(m)} % (mean ± sd)`, `Δ vs ${base} [95 % CI]`);
  const body = c.rows.map((r) => {
    const cells = [r.pipeline];
    for (const s of r.metrics) {
      cells.push(`${pct(s.mean)} ± ${pct(s.sd)}`);
      cells.push(s.diff === null ? "—" : `${pts(s.diff.estimate)} [${pts(s.diff.low)}, ${pts(s.diff.high)}]`);
    }
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  const n = c.seeds.length;
  return [
    `final evaluation at step ${c.step} (${c.split} split), ${n} seed${n === 1 ? "" : "s"} (${c.seeds.join(", ")}); Δ in percentage points, paired by seed${n < 2 ? " (intervals need at least 2 seeds)" : ""}`,
    line(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...body.map(line),
  ].join("\n");
}
