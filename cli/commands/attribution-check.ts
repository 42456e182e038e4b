// `acpo attribution-check RUN_DIR... [-o FILE]`: Spearman's ρ (with 95 % intervals) between
// attribution C and ground-truth step importance on a countdown run's recorded responses
// (runtime/loop/report/attribution-check.ts), printed as a table and written as a report
// section with the distribution of C per truth class. A sweep directory (with sweep.json)
// stands for all its runs, so `acpo sweep --grid attribution=loglik,perplexity` followed by
// this command compares the two measures.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { AttributionCheckError, attributionCheck, attributionSection, formatCorrelations } from "../../runtime/loop/report/attribution-check.js";
import { ReportWriteError } from "../../runtime/loop/report/html.js";
import { RunDirError } from "../../runtime/loop/report/load.js";
import { writeSectionReport } from "../../runtime/loop/report/sections.js";
import { UserError } from "../errors.js";
import { parsePositiveIntOption } from "../options.js";

/** A run directory as given, or a sweep directory's runs (sweep.json `runs[].runDir`). */
export function expandSweepDirs(dirs: readonly string[]): string[] {
  return dirs.flatMap((d) => {
    const sweep = join(d, "sweep.json");
    if (!existsSync(sweep)) return [d];
    let runs: unknown;
    try {
      runs = (JSON.parse(readFileSync(sweep, "utf8")) as { runs?: unknown }).runs;
    } catch (e) {
      throw new UserError(`${sweep}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(runs) || runs.some((r) => typeof (r as { runDir?: unknown })?.runDir !== "string")) throw new UserError(`${sweep}: expected "runs": [{"runDir": ...}, ...] as acpo sweep writes it`);
    return runs.map((r) => (r as { runDir: string }).runDir);
  });
}

export function registerAttributionCheck(program: Command): void {
  program
    .command("attribution-check")
    .description("Spearman ρ with 95 % intervals between attribution C and ground-truth step importance (countdown: step on a path to the target; the misread step) on runs' recorded responses")
    .argument("<runs...>", "run directories, or sweep directories (all their runs)")
    .option("-o, --out <file>", "HTML report (default: attribution-check.html in the first directory)")
    .option("--bootstrap <n>", "bootstrap resamples (over responses)", parsePositiveIntOption, 1000)
    .action((dirs: string[], o: { out?: string; bootstrap: number }) => {
      const runDirs = expandSweepDirs(dirs);
      const out = resolve(o.out ?? join(dirs[0]!, "attribution-check.html"));
      try {
        const { runs, rows } = attributionCheck(runDirs, { reps: o.bootstrap, seed: 0 });
        const table = formatCorrelations(rows);
        process.stdout.write(`${table}\n`);
        for (const r of runs) for (const [why, n] of r.skipped) process.stderr.write(`acpo: warning: ${r.run}: ${n} response${n === 1 ? "" : "s"} left out: ${why}\n`);
        writeFileSync(out.replace(/\.html?$/, "") + ".json", `${JSON.stringify(rows, null, 2)}\n`);
        writeSectionReport(runDirs, out, `acpo attribution-check: ${runs.map((r) => r.run).join(", ")}`, [attributionSection(runs, rows)]);
      } catch (e) {
        if (e instanceof AttributionCheckError || e instanceof RunDirError || e instanceof ReportWriteError) throw new UserError(e.message);
        throw e;
      }
      process.stdout.write(`report: ${out}\n`);
    });
}
