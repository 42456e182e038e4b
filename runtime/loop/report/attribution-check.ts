// `acpo attribution-check`: does attribution C rank steps the way the task's ground truth
// does? For each run, every recorded response (samples.jsonl) of a countdown run is cut
// into its steps (step_starts over the response's tokens, decoded by the run's tokenizer),
// each step gets its truth (attribution-truth.ts), and Spearman's ρ between C and the truth
// is computed over the pooled steps, with two 95 % intervals: Fisher z (steps independent)
// and a bootstrap over responses (steps of one response are not).
// Two checks: "on path" (1 when the step keeps the target reachable) over all steps with
// an equation, and "misread step" (1 for the step that first uses an unavailable number)
// over the steps of responses that have one.
import { type RunData, loadRuns, modelPathOf, num } from "./load.js";
import { tokenPieces } from "./samples.js";
import { type CountdownInstance, countdownOfPrompt, stepTruths } from "./attribution-truth.js";
import { type RhoInterval, clusterBootstrap, fisherInterval, spearman } from "./rank-stats.js";
import { type ReportSection, SECTION_PALETTE, type SectionChart } from "./sections.js";

export class AttributionCheckError extends Error {}

/** One reasoning step with its attribution and truth. */
export interface CheckedStep {
  /** Index of the response among the run's recorded ones (the bootstrap's cluster). */
  response: number;
  C: number;
  onPath: boolean | null;
  misread: boolean;
}

export interface RunSteps {
  run: string;
  /** The attribution measure (loglik, perplexity) from the run's config; null when unknown. */
  measure: string | null;
  /** The segmentation kind from the run's config; null when unknown. */
  segment: string | null;
  steps: CheckedStep[];
  responses: number;
  /** Responses left out, with why (e.g. "no C: attribution off"). */
  skipped: Map<string, number>;
}

export type CheckName = "on path" | "misread step";

export interface Correlation {
  run: string;
  measure: string | null;
  segment: string | null;
  check: CheckName;
  steps: number;
  responses: number;
  /** Steps whose truth is 1 (on path / the misread step). */
  positives: number;
  rho: number;
  fisher: RhoInterval;
  bootstrap: RhoInterval;
  meanCPositive: number;
  meanCNegative: number;
}

function configField(run: RunData, key: "attribution" | "segment", field: "measure" | "kind"): string | null {
  const p = run.config?.pipeline as Record<string, unknown> | undefined;
  const v = (p?.[key] as Record<string, unknown> | null | undefined)?.[field];
  return typeof v === "string" ? v : null;
}

function skip(m: Map<string, number>, why: string): void {
  m.set(why, (m.get(why) ?? 0) + 1);
}

/** The steps of a run's recorded countdown responses with their C and truth. */
export function runSteps(run: RunData): RunSteps {
  const out: RunSteps = { run: run.name, measure: configField(run, "attribution", "measure"), segment: configField(run, "segment", "kind"), steps: [], responses: 0, skipped: new Map() };
  if (run.samples.length === 0) throw new AttributionCheckError(`${run.dir}: no samples.jsonl lines; the check reads the recorded responses`);
  const pieces = tokenPieces(modelPathOf(run.config));
  if (typeof pieces === "string") throw new AttributionCheckError(`${run.dir}: cannot decode the responses' steps: ${pieces}`);
  const instances = new Map<string, CountdownInstance | null>();
  for (const s of run.samples) {
    const prompt = typeof s.prompt === "string" ? s.prompt : "";
    if (!instances.has(prompt)) instances.set(prompt, countdownOfPrompt(prompt));
    const inst = instances.get(prompt)!;
    if (!inst) { skip(out.skipped, "not a countdown prompt"); continue; }
    const C = Array.isArray(s.C) ? s.C.map(num) : null;
    if (!C) { skip(out.skipped, "no C (attribution off)"); continue; }
    const tokens = (s.tokens as unknown[]).filter((t): t is number => typeof t === "number");
    const starts = (s.step_starts as unknown[]).filter((t): t is number => typeof t === "number");
    if (starts.length !== C.length) { skip(out.skipped, "C and step_starts disagree in length"); continue; }
    const p = pieces(tokens);
    const texts = starts.map((b, k) => p.slice(b, k + 1 < starts.length ? starts[k + 1]! : tokens.length).join(""));
    const truths = stepTruths(inst, texts);
    const response = out.responses++;
    truths.forEach((t, k) => {
      const c = C[k];
      if (t.onPath !== null && c !== null && c !== undefined) out.steps.push({ response, C: c, onPath: t.onPath, misread: t.misread });
    });
  }
  return out;
}

function meanOf(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Spearman's ρ of C against one check's truth over the steps it applies to. */
export function correlate(r: RunSteps, check: CheckName, opts: { reps?: number; seed?: number } = {}): Correlation {
  let steps = r.steps;
  if (check === "misread step") {
    const withSlip = new Set(steps.filter((s) => s.misread).map((s) => s.response));
    steps = steps.filter((s) => withSlip.has(s.response));
  }
  const truth = (s: CheckedStep) => (check === "on path" ? s.onPath === true : s.misread);
  const x = steps.map((s) => s.C);
  const y = steps.map((s) => (truth(s) ? 1 : 0));
  const byResponse = new Map<number, { x: number[]; y: number[] }>();
  steps.forEach((s, i) => {
    const c = byResponse.get(s.response) ?? { x: [], y: [] };
    c.x.push(x[i]!);
    c.y.push(y[i]!);
    byResponse.set(s.response, c);
  });
  const rho = spearman(x, y);
  const boot = clusterBootstrap([...byResponse.values()], opts.reps ?? 1000, opts.seed ?? 0);
  return {
    run: r.run, measure: r.measure, segment: r.segment, check,
    steps: steps.length, responses: byResponse.size, positives: y.filter((v) => v === 1).length,
    rho, fisher: fisherInterval(rho, steps.length), bootstrap: { low: boot.low, high: boot.high },
    meanCPositive: meanOf(steps.filter(truth).map((s) => s.C)),
    meanCNegative: meanOf(steps.filter((s) => !truth(s)).map((s) => s.C)),
  };
}

const f3 = (v: number) => (Number.isNaN(v) ? "n/a" : v.toFixed(3));
const ci = (i: RhoInterval) => `[${f3(i.low)}, ${f3(i.high)}]`;

export const CHECK_HEADER = ["run", "attribution", "segment", "check", "steps", "responses", "truth = 1", "Spearman ρ", "95 % CI (bootstrap over responses)", "95 % CI (Fisher z)", "mean C | truth 1", "mean C | truth 0"];

export function correlationRow(c: Correlation): string[] {
  return [c.run, c.measure ?? "?", c.segment ?? "?", c.check, String(c.steps), String(c.responses), String(c.positives), f3(c.rho), ci(c.bootstrap), ci(c.fisher), f3(c.meanCPositive), f3(c.meanCNegative)];
}

/** A plain-text table, one row per run and check. */
export function formatCorrelations(rows: readonly Correlation[]): string {
  const body = rows.map(correlationRow);
  const widths = CHECK_HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => (i < 4 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  return [line(CHECK_HEADER), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** Histogram of C per truth class: fraction of the class's steps in each of `bins` equal bins. */
function histogramChart(id: string, title: string, steps: { C: number; truth: boolean }[], labels: [string, string], bins = 20): SectionChart {
  const cs = steps.map((s) => s.C);
  const lo = Math.min(...cs), hi = Math.max(...cs);
  const width = hi > lo ? (hi - lo) / bins : 1;
  const x = Array.from({ length: bins }, (_, i) => lo + (i + 0.5) * width);
  const series = ([true, false] as const).map((cls, k) => {
    const mine = steps.filter((s) => s.truth === cls);
    const counts = new Array<number>(bins).fill(0);
    for (const s of mine) counts[Math.min(bins - 1, Math.floor((s.C - lo) / width))]!++;
    return { label: labels[k]!, color: SECTION_PALETTE[k === 0 ? 4 : 2]!, values: counts.map((c) => (mine.length ? c / mine.length : null)), width: 2, alpha: 1 };
  });
  return { id, title, xLabel: "C (bin centre)", yLabel: "fraction of the class's steps", x, series };
}

/** The report section: the table and, per run, the distribution of C in each truth class. */
export function attributionSection(runs: readonly RunSteps[], rows: readonly Correlation[]): ReportSection {
  const charts: SectionChart[] = [];
  runs.forEach((r, i) => {
    if (r.steps.length === 0) return;
    charts.push(histogramChart(`attr-onpath-${i}`, `${r.run}: C of on-path vs off-path steps`, r.steps.map((s) => ({ C: s.C, truth: s.onPath === true })), ["on path", "off path"]));
    const slipped = new Set(r.steps.filter((s) => s.misread).map((s) => s.response));
    const inSlipped = r.steps.filter((s) => slipped.has(s.response));
    if (inSlipped.length > 0) charts.push(histogramChart(`attr-misread-${i}`, `${r.run}: C of the misread step vs the others (responses with a misread)`, inSlipped.map((s) => ({ C: s.C, truth: s.misread })), ["misread step", "other steps"]));
  });
  return {
    id: "attribution-check",
    title: "Attribution check: C against ground-truth step importance",
    note: "Countdown responses recorded in samples.jsonl, replayed on the prompt's numbers. On path: after the step every equation was valid and the target is still reachable from the numbers left. Misread step: the first step that uses a number not available (the slip warm start's error), over the responses that have one. Spearman ρ over the pooled steps; bootstrap resamples whole responses (1000 resamples, seed 0).",
    tables: [{ header: CHECK_HEADER, rows: rows.map(correlationRow) }],
    charts,
  };
}

/** Load the runs and compute both checks for each. */
export function attributionCheck(dirs: readonly string[], opts: { reps?: number; seed?: number } = {}): { runs: RunSteps[]; rows: Correlation[] } {
  const runs = loadRuns(dirs).map(runSteps);
  const rows = runs.flatMap((r) => (["on path", "misread step"] as const).map((c) => correlate(r, c, opts)));
  return { runs, rows };
}
