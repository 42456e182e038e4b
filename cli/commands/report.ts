// `acpo report RUN_DIR... [-o report.html] [--credit-vs OTHER]`: one self-contained HTML file
// with the runs' curves, a trajectory viewer for their samples and their configurations side
// by side; with --credit-vs, a credit view of the first run's samples under its own pipeline
// and OTHER (a pipeline file or a run directory), both scored by the interpreter.
import type { Command } from "commander";
import { resolve } from "node:path";
import { CreditError, type CreditPipeline, isRunDir, runDirPipeline } from "../../runtime/loop/report/credit.js";
import { type ReportData, ReportWriteError, writeCreditReport, writeReport } from "../../runtime/loop/report/html.js";
import { RunDirError } from "../../runtime/loop/report/load.js";
import { UserError } from "../errors.js";
import { loadPipelineOrFail } from "../load.js";

interface ReportFlags {
  out: string;
  title?: string;
  creditVs?: string;
}

/** The pipeline --credit-vs names: a run directory's stored pipeline, or a pipeline file. */
function otherPipeline(path: string): CreditPipeline {
  if (isRunDir(path)) return runDirPipeline(path);
  return { pipeline: loadPipelineOrFail(path, [], "no report written"), source: path };
}

async function write(runs: string[], o: ReportFlags): Promise<ReportData> {
  try {
    if (o.creditVs === undefined) return writeReport(runs, o.out, o.title);
    return await writeCreditReport(runs, o.out, otherPipeline(o.creditVs), o.title);
  } catch (e) {
    if (e instanceof RunDirError || e instanceof ReportWriteError) throw new UserError(e.message);
    if (e instanceof CreditError) throw new UserError(`${e.message}; no report written`);
    throw e;
  }
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("write an HTML report (curves, trajectories, configurations) for one or more run directories")
    .argument("<runs...>", "run directories (runs/<name>-<time>)")
    .option("-o, --out <file>", "HTML file to write", "report.html")
    .option("--title <text>", "page title")
    .option("--credit-vs <pipeline>", "add a credit view: the first run's samples scored under its own pipeline and this one (a .acpo file or a run directory)")
    .action(async (runs: string[], o: ReportFlags) => {
      const data = await write(runs, o);
      // Left-out lines are warnings, not failures: the report was written and shows the rest.
      for (const p of data.problems) process.stderr.write(`acpo: warning: ${p}\n`);
      const samples = data.samples.reduce((a, r) => a + r.samples.length, 0);
      const left = data.problems.length ? ` (${data.problems.length} sample line${data.problems.length === 1 ? "" : "s"} left out, listed above and on the page)` : "";
      const credit = data.credit ? `, credit of ${data.credit.samples.length} responses under ${data.credit.pipelines.join(" and ")}` : "";
      process.stdout.write(`report: ${data.runs.length} run${data.runs.length === 1 ? "" : "s"}, ${data.charts.length} charts, ${samples} sampled responses${left}${credit} -> ${resolve(o.out)}\n`);
    });
}
