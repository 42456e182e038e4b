// `acpo report RUN_DIR... [-o report.html]`: one self-contained HTML file with the runs'
// curves, a trajectory viewer for their samples and their configurations side by side.
import type { Command } from "commander";
import { resolve } from "node:path";
import { ReportWriteError, writeReport } from "../../runtime/report/html.js";
import { RunDirError } from "../../runtime/report/load.js";
import { UserError } from "../errors.js";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("write an HTML report (curves, trajectories, configurations) for one or more run directories")
    .argument("<runs...>", "run directories (runs/<name>-<time>)")
    .option("-o, --out <file>", "HTML file to write", "report.html")
    .option("--title <text>", "page title")
    .action((runs: string[], o: { out: string; title?: string }) => {
      let data;
      try {
        data = writeReport(runs, o.out, o.title);
      } catch (e) {
        if (e instanceof RunDirError || e instanceof ReportWriteError) throw new UserError(e.message);
        throw e;
      }
      // Left-out lines are warnings, not failures: the report was written and shows the rest.
      for (const p of data.problems) process.stderr.write(`acpo: warning: ${p}\n`);
      const samples = data.samples.reduce((a, r) => a + r.samples.length, 0);
      const left = data.problems.length ? ` (${data.problems.length} sample line${data.problems.length === 1 ? "" : "s"} left out, listed above and on the page)` : "";
      process.stdout.write(`report: ${data.runs.length} run${data.runs.length === 1 ? "" : "s"}, ${data.charts.length} charts, ${samples} sampled responses${left} -> ${resolve(o.out)}\n`);
    });
}
