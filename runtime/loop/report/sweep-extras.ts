// The sweep's second table: per cell, quantities of the training curves rather than of the
// final evaluation, over seeds (mean ± sd) with the paired difference from the baseline
// cell (95 % t-interval, as compare-table.ts does for Acc@k):
// - var(C): the variance of the attribution scores over a step's reasoning steps
//   (metrics.jsonl attribution_std²), averaged over the run's steps — the segmentation
//   ablation's measure of how spread the credit is;
// - H final: token entropy (entropy_mean) at the run's last step — the stage-timing sweep's
//   end point of the entropy curve.
// A quantity no run recorded (attribution off: no attribution_std) is left out.
import { type Interval, diffInterval, mean, stdSample } from "../eval/estimators.js";
import { RUN_FILES, num, readJsonl } from "./load.js";
import { join } from "node:path";

export interface ExtraDef {
  key: string;
  /** Column header. */
  label: string;
  of: (metrics: Record<string, unknown>[]) => number;
}

function lastStep(metrics: Record<string, unknown>[]): Record<string, unknown> | undefined {
  let best: Record<string, unknown> | undefined;
  for (const m of metrics) if (num(m.step) !== null && (best === undefined || (m.step as number) >= (best.step as number))) best = m;
  return best;
}

export const EXTRAS: readonly ExtraDef[] = [
  {
    key: "var_C",
    label: "var(C), mean over steps",
    of: (ms) => {
      const v = ms.map((m) => num(m.attribution_std)).filter((x): x is number => x !== null).map((x) => x * x);
      return v.length ? mean(v) : NaN;
    },
  },
  { key: "entropy_final", label: "H at last step (nats)", of: (ms) => num(lastStep(ms)?.entropy_mean) ?? NaN },
];

/** The extras of one run directory (NaN where the run did not record the metric). */
export function runExtras(runDir: string): Record<string, number> {
  const ms = readJsonl(join(runDir, RUN_FILES.metrics));
  return Object.fromEntries(EXTRAS.map((d) => [d.key, d.of(ms)]));
}

export interface ExtraRow {
  cell: string;
  values: Record<string, { perSeed: number[]; mean: number; sd: number; diff: Interval | null }>;
}

/** Per cell (baseline first), per extra recorded by every run: the summary over seeds. */
export function summarizeExtras(runs: readonly { cell: string; seed: number; extras: Record<string, number> }[], cells: readonly string[], seeds: readonly number[]): { keys: ExtraDef[]; rows: ExtraRow[] } {
  const get = (c: string, s: number) => runs.find((r) => r.cell === c && r.seed === s)!.extras;
  const keys = EXTRAS.filter((d) => runs.every((r) => !Number.isNaN(r.extras[d.key])));
  const rows = cells.map((c, i) => ({
    cell: c,
    values: Object.fromEntries(keys.map((d) => {
      const xs = seeds.map((s) => get(c, s)[d.key]!);
      const base = seeds.map((s) => get(cells[0]!, s)[d.key]!);
      return [d.key, { perSeed: xs, mean: mean(xs), sd: stdSample(xs), diff: i === 0 ? null : diffInterval(xs, base, { paired: true }) }];
    })),
  }));
  return { keys, rows };
}

const g4 = (x: number) => (Number.isNaN(x) ? "n/a" : Number(x.toPrecision(4)).toString());
const signed = (x: number) => (Number.isNaN(x) ? "n/a" : `${x >= 0 ? "+" : ""}${g4(x)}`);

/** Header and rows of the extras table (for the text table and the report). */
export function extrasTable(s: { keys: ExtraDef[]; rows: ExtraRow[] }): { header: string[]; rows: string[][] } {
  const base = s.rows[0]?.cell ?? "";
  const header = ["cell", ...s.keys.flatMap((d) => [`${d.label} (mean ± sd)`, `Δ vs ${base} [95 % CI]`])];
  const rows = s.rows.map((r) => [
    r.cell,
    ...s.keys.flatMap((d) => {
      const v = r.values[d.key]!;
      return [`${g4(v.mean)} ± ${g4(v.sd)}`, v.diff === null ? "—" : `${signed(v.diff.estimate)} [${signed(v.diff.low)}, ${signed(v.diff.high)}]`];
    }),
  ]);
  return { header, rows };
}

/** The extras table as plain text; "" when no extra was recorded by every run. */
export function formatExtras(s: { keys: ExtraDef[]; rows: ExtraRow[] }): string {
  if (s.keys.length === 0) return "";
  const { header, rows } = extrasTable(s);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
