// One self-contained HTML report for one or more run directories: uPlot's script and
// stylesheet, the page's own script (page.js) and the data are all inlined, so the file
// opens offline and can be mailed or archived as it is.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { outputErrorMessage } from "../../engine/fs-errors.js";
import { type ChartSpec, buildCharts, timeSplit } from "./charts.js";
import { type ConfigTable, configTable } from "./config-table.js";
import { type RunData, loadRuns } from "./load.js";
import { type RunSamples, entropyScale, viewSamples } from "./samples.js";
import { CreditError, type CreditPipeline, type CreditView, creditView } from "./credit.js";

/** Everything the page renders, as JSON inside the file. */
export interface ReportData {
  title: string;
  generated: string;
  runs: { name: string; color: string; dir: string; steps: number; evals: number; samples: number; pipeline: string | null; seed: number | null }[];
  charts: ChartSpec[];
  timeSplit: ReturnType<typeof timeSplit>;
  samples: RunSamples[];
  /** Entropy (nats) at which token colour saturates. */
  entropyMax: number;
  config: ConfigTable;
  /** Lines left out because they could not be shown (file:line: what is wrong), all runs. */
  problems: string[];
  /** The first run's samples under its own pipeline and another (runtime/loop/report/credit.ts); null: no credit view. */
  credit: CreditView | null;
}

// Tableau 10: distinguishable, and readable on white.
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function uplotAsset(file: string): string {
  return readFileSync(join(dirname(require.resolve("uplot")), file), "utf8");
}

function pipelineName(r: RunData): string | null {
  const p = r.config?.pipeline as { name?: unknown } | undefined;
  const name = p?.name ?? r.config?.name;
  return typeof name === "string" ? name : null;
}

export function reportData(runs: readonly RunData[], title: string, credit: CreditView | null = null): ReportData {
  const samples = runs.map(viewSamples);
  return {
    title,
    generated: new Date().toISOString(),
    runs: runs.map((r, i) => ({
      name: r.name,
      color: PALETTE[i % PALETTE.length]!,
      dir: r.dir,
      steps: r.metrics.length,
      evals: r.evals.length,
      samples: r.samples.length,
      pipeline: pipelineName(r),
      seed: typeof r.config?.seed === "number" ? r.config.seed : null,
    })),
    charts: buildCharts(runs),
    timeSplit: timeSplit(runs),
    samples,
    entropyMax: entropyScale(samples),
    config: configTable(runs),
    problems: runs.flatMap((r) => r.problems),
    credit,
  };
}

/** Text that is safe inside a <script> element (no `</script`, no `<!--`). */
function scriptSafe(s: string): string {
  return s.replace(/<(\/script|!--)/gi, "\\u003c$1");
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

export function renderReport(data: ReportData): string {
  // JSON: escaping every '<' keeps the data inert whatever the samples' text contains.
  const json = JSON.stringify(data).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${uplotAsset("uPlot.min.css")}</style>
<style>${readFileSync(join(here, "page.css"), "utf8")}</style>
</head>
<body>
<div id="app"></div>
<script type="application/json" id="report-data">${json}</script>
<script>${scriptSafe(uplotAsset("uPlot.iife.min.js"))}</script>
<script>${scriptSafe(readFileSync(join(here, "page.js"), "utf8"))}</script>
</body>
</html>
`;
}

/** The report file could not be written; the message names the path, the reason and the fix. */
export class ReportWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReportWriteError";
  }
}

/** Write the page to `out`; a failed write leaves no partial page that was not there before. */
function writeOutput(out: string, html: string): void {
  const existed = existsSync(out);
  try {
    writeFileSync(out, html);
  } catch (e) {
    if (!existed && existsSync(out)) rmSync(out); // a full disk stops the write part-way
    throw new ReportWriteError(outputErrorMessage(out, "write the report", e, "or write it elsewhere with -o FILE"));
  }
}

/** Load the runs, write the report, and return what was written. */
export function writeReport(dirs: readonly string[], out: string, title?: string): ReportData {
  const runs = loadRuns(dirs);
  const data = reportData(runs, title ?? `acpo report: ${runs.map((r) => r.name).join(", ")}`);
  writeOutput(out, renderReport(data));
  return data;
}

/** As writeReport, with a credit view: the first run's samples re-scored under its own pipeline and `other`. */
export async function writeCreditReport(dirs: readonly string[], out: string, other: CreditPipeline, title?: string): Promise<ReportData> {
  const runs = loadRuns(dirs);
  const credit = await creditView(runs[0]!, other);
  const data = reportData(runs, title ?? `acpo report: ${runs.map((r) => r.name).join(", ")} (credit: ${credit.pipelines.join(" vs ")})`, credit);
  writeOutput(out, renderReport(data));
  return data;
}

/**
 * As writeCreditReport, but a credit view that cannot be built costs only the view: the
 * report is written without it and `warning` says why (acpo compare --credit, whose runs
 * are already trained by then).
 */
export async function writeReportTryCredit(dirs: readonly string[], out: string, other: CreditPipeline, title?: string): Promise<{ data: ReportData; warning: string | null }> {
  try {
    return { data: await writeCreditReport(dirs, out, other, title), warning: null };
  } catch (e) {
    if (!(e instanceof CreditError)) throw e;
    return { data: writeReport(dirs, out, title), warning: `no credit view: ${e.message}` };
  }
}
