// Curves for the report: which metrics are plotted, and their values aligned on one
// x axis (the union of the runs' steps) so one chart draws one line per run. Stage
// boundaries are the steps where a run's `stage` changes. The page only hands these
// specs to the plotting library.
import { type RunData, num } from "./load.js";

export interface ChartSpec {
  id: string;
  section: string;
  title: string;
  yLabel: string;
  /** Optimizer steps (sorted union over runs). */
  x: number[];
  /** One per run, in run order; null where that run has no value at that step. */
  series: { run: string; values: (number | null)[] }[];
  /** Vertical markers: the first step of each new stage. */
  marks: StageMark[];
}

export interface StageMark {
  run: string;
  step: number;
  stage: string;
}

interface MetricDef {
  key: string;
  section: string;
  title: string;
  yLabel: string;
}

// The metrics.jsonl fields worth a curve (runtime/loop/rl/types.ts StepMetrics), in reading order.
export const METRIC_CHARTS: readonly MetricDef[] = [
  { key: "reward_mean", section: "Outcome", title: "Reward (mean over rollouts)", yLabel: "reward" },
  { key: "accuracy", section: "Outcome", title: "Rollout accuracy", yLabel: "fraction correct" },
  { key: "zero_variance_groups", section: "Outcome", title: "Groups with zero reward variance", yLabel: "fraction of groups" },
  { key: "reward_std", section: "Outcome", title: "Reward std", yLabel: "reward" },
  { key: "entropy_mean", section: "Policy", title: "Token entropy (mean)", yLabel: "nats" },
  { key: "kl", section: "Policy", title: "KL to reference (estimator mean)", yLabel: "nats / token" },
  { key: "response_length_mean", section: "Policy", title: "Response length (mean)", yLabel: "tokens" },
  { key: "response_length_max", section: "Policy", title: "Response length (max)", yLabel: "tokens" },
  { key: "steps_per_response", section: "Credit assignment", title: "Reasoning steps per response", yLabel: "steps" },
  { key: "attribution_mean", section: "Credit assignment", title: "Attribution C (mean)", yLabel: "C (nats)" },
  { key: "attribution_std", section: "Credit assignment", title: "Attribution C (std)", yLabel: "C (nats)" },
  { key: "attribution_negative_fraction", section: "Credit assignment", title: "Steps with C < 0", yLabel: "fraction of steps" },
  { key: "advantage_mean", section: "Credit assignment", title: "Advantage (mean)", yLabel: "advantage" },
  { key: "advantage_std", section: "Credit assignment", title: "Advantage (std)", yLabel: "advantage" },
  { key: "clip_low_fraction", section: "Update", title: "Clipped tokens, low side (ratio < 1 - eps_low)", yLabel: "fraction of tokens" },
  { key: "clip_high_fraction", section: "Update", title: "Clipped tokens, high side (ratio > 1 + eps_high)", yLabel: "fraction of tokens" },
  { key: "dual_clip_fraction", section: "Update", title: "Dual-clipped tokens", yLabel: "fraction of tokens" },
  { key: "ratio_mean", section: "Update", title: "Importance ratio (mean)", yLabel: "ratio" },
  { key: "loss", section: "Update", title: "Loss", yLabel: "loss" },
  { key: "grad_norm", section: "Update", title: "Gradient norm (before clipping)", yLabel: "L2 norm" },
  { key: "learning_rate", section: "Update", title: "Learning rate", yLabel: "lr" },
  { key: "skipped_updates", section: "Update", title: "Skipped updates (non-finite, cumulative)", yLabel: "updates" },
  { key: "time_step_s", section: "Time", title: "Seconds per step", yLabel: "s" },
  { key: "tokens_per_s", section: "Time", title: "Throughput", yLabel: "response tokens / s" },
];

/** Phases of a step, for the time-split table (seconds each, summing to about time_step_s). */
export const TIME_PHASES = [
  { key: "time_rollout_s", label: "rollout" },
  { key: "time_verify_s", label: "verification" },
  { key: "time_segment_attribution_s", label: "segmentation + attribution" },
  { key: "time_update_s", label: "update" },
] as const;

function sortedUnion(lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/** Values of `pick(record)` per run aligned on the union of steps. */
function aligned(runs: readonly RunData[], recordsOf: (r: RunData) => Record<string, unknown>[], pick: (rec: Record<string, unknown>) => unknown) {
  const perRun = runs.map((r) => {
    const m = new Map<number, number | null>();
    for (const rec of recordsOf(r)) {
      const s = num(rec.step);
      if (s !== null) m.set(s, num(pick(rec)));
    }
    return m;
  });
  const x = sortedUnion(perRun.map((m) => [...m.keys()]));
  const series = runs.map((r, i) => ({ run: r.name, values: x.map((s) => perRun[i]!.get(s) ?? null) }));
  return { x, series };
}

/** First step of each stage after the first, per run (from metrics.jsonl's `stage`). */
export function stageMarks(runs: readonly RunData[]): StageMark[] {
  const marks: StageMark[] = [];
  for (const r of runs) {
    const ordered = [...r.metrics].filter((m) => num(m.step) !== null).sort((a, b) => (a.step as number) - (b.step as number));
    let prev: unknown;
    ordered.forEach((m, i) => {
      if (i > 0 && m.stage !== prev && typeof m.stage === "string") marks.push({ run: r.name, step: m.step as number, stage: m.stage });
      prev = m.stage;
    });
  }
  return marks;
}

/** Eval metric names with their split, e.g. "test acc@8", in first-seen order. */
function evalKeys(runs: readonly RunData[]): { split: string; metric: string }[] {
  const seen = new Map<string, { split: string; metric: string }>();
  for (const r of runs)
    for (const e of r.evals) {
      const split = typeof e.split === "string" ? e.split : "test";
      const metrics = e.metrics && typeof e.metrics === "object" ? (e.metrics as Record<string, unknown>) : {};
      for (const metric of Object.keys(metrics)) seen.set(`${split} ${metric}`, { split, metric });
    }
  return [...seen.values()];
}

function evalTitle(metric: string): string {
  const m = /^(acc|pass)@(\d+)$/.exec(metric);
  if (m) return `${m[1] === "acc" ? "Acc" : "pass"}@${m[2]}`;
  return metric === "greedy" ? "Greedy accuracy" : metric;
}

/** Every chart that has data in at least one run; metrics no run recorded are left out. */
export function buildCharts(runs: readonly RunData[]): ChartSpec[] {
  const marks = stageMarks(runs);
  const charts: ChartSpec[] = [];
  for (const { split, metric } of evalKeys(runs)) {
    const { x, series } = aligned(
      runs,
      (r) => r.evals.filter((e) => (typeof e.split === "string" ? e.split : "test") === split),
      (e) => (e.metrics as Record<string, unknown>)[metric],
    );
    charts.push({ id: `eval-${split}-${metric}`, section: "Evaluation", title: `${evalTitle(metric)} (${split} split)`, yLabel: "fraction of problems", x, series, marks });
  }
  for (const def of METRIC_CHARTS) {
    const { x, series } = aligned(runs, (r) => r.metrics, (m) => m[def.key]);
    if (!series.some((s) => s.values.some((v) => v !== null))) continue;
    charts.push({ id: `metric-${def.key}`, section: def.section, title: def.title, yLabel: def.yLabel, x, series, marks });
  }
  return charts;
}

/** Mean seconds per phase per run (null for a phase the run never timed). */
export function timeSplit(runs: readonly RunData[]): { run: string; phases: { label: string; seconds: number | null }[] }[] {
  return runs.map((r) => ({
    run: r.name,
    phases: TIME_PHASES.map(({ key, label }) => {
      const xs = r.metrics.map((m) => num(m[key])).filter((v): v is number => v !== null);
      return { label, seconds: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null };
    }),
  }));
}
