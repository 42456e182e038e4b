// The sweep's curves: one thick line per cell, the mean over its seeds at each step, with
// the seeds as thin faint lines of the same colour, so cells compare at a glance and the
// seed-to-seed spread stays visible. Held-out evaluation curves first, then the training
// metrics the follow-up experiments read (entropy for the stage-timing sweep, attribution
// spread for the segmentation ablation).
import { type RunData, num } from "./load.js";
import { SECTION_PALETTE, type SectionChart, type SectionSeries } from "./sections.js";

export interface CellRuns {
  cell: string;
  /** One per seed. */
  runs: { seed: number; run: RunData }[];
}

const TRAINING: readonly { key: string; title: string; yLabel: string }[] = [
  { key: "entropy_mean", title: "Token entropy (mean)", yLabel: "nats" },
  { key: "reward_mean", title: "Reward (mean over rollouts)", yLabel: "reward" },
  { key: "attribution_std", title: "Attribution C (std over steps)", yLabel: "C" },
  { key: "kl", title: "KL to reference", yLabel: "nats / token" },
];

/** Values per step of one run. */
type Curve = Map<number, number>;

function curveOf(records: Record<string, unknown>[], pick: (r: Record<string, unknown>) => unknown): Curve {
  const c: Curve = new Map();
  for (const r of records) {
    const s = num(r.step);
    const v = num(pick(r));
    if (s !== null && v !== null) c.set(s, v);
  }
  return c;
}

/** Mean over the curves that have a value at each step (null where none has). */
export function meanCurve(curves: readonly Curve[], x: readonly number[]): (number | null)[] {
  return x.map((s) => {
    const vs = curves.map((c) => c.get(s)).filter((v): v is number => v !== undefined);
    return vs.length ? vs.reduce((a, b) => a + b, 0) / vs.length : null;
  });
}

function chart(id: string, title: string, yLabel: string, cells: readonly CellRuns[], curveFor: (r: RunData) => Curve): SectionChart | null {
  const per = cells.map((c) => c.runs.map((r) => ({ seed: r.seed, curve: curveFor(r.run) })));
  const x = [...new Set(per.flat().flatMap((r) => [...r.curve.keys()]))].sort((a, b) => a - b);
  if (x.length === 0) return null;
  const series: SectionSeries[] = [];
  cells.forEach((c, i) => {
    const color = SECTION_PALETTE[i % SECTION_PALETTE.length]!;
    series.push({ label: `${c.cell} (mean of ${per[i]!.length})`, color, values: meanCurve(per[i]!.map((r) => r.curve), x), width: 2.5, alpha: 1 });
    for (const r of per[i]!) series.push({ label: `${c.cell} seed ${r.seed}`, color, values: x.map((s) => r.curve.get(s) ?? null), width: 1, alpha: 0.3 });
  });
  return { id, title, xLabel: "optimizer step", yLabel, x, series };
}

/** Mean-per-cell charts: every evaluation metric (test split first), then TRAINING's metrics. */
export function cellCurves(cells: readonly CellRuns[]): SectionChart[] {
  const evalKeys = new Map<string, { split: string; metric: string }>();
  for (const c of cells)
    for (const { run } of c.runs)
      for (const e of run.evals) {
        const split = typeof e.split === "string" ? e.split : "test";
        for (const metric of Object.keys((e.metrics ?? {}) as object)) evalKeys.set(`${split} ${metric}`, { split, metric });
      }
  const out: (SectionChart | null)[] = [];
  const ordered = [...evalKeys.values()].sort((a, b) => Number(b.split === "test") - Number(a.split === "test"));
  for (const { split, metric } of ordered)
    out.push(chart(`sweep-eval-${split}-${metric}`, `${metric} (${split} split), mean over seeds`, "fraction of problems", cells, (r) => curveOf(r.evals.filter((e) => (typeof e.split === "string" ? e.split : "test") === split), (e) => (e.metrics as Record<string, unknown>)[metric])));
  for (const t of TRAINING) out.push(chart(`sweep-${t.key}`, `${t.title}, mean over seeds`, t.yLabel, cells, (r) => curveOf(r.metrics, (m) => m[t.key])));
  return out.filter((c): c is SectionChart => c !== null);
}
