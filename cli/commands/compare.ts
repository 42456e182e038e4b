// `acpo compare A.acpo B.acpo [...] --seeds 3 [--steps N] [--credit]`: train every pipeline
// with the same seeds on the same model, task and budget, print each one's final Acc@k and
// pass@k (mean ± sd over seeds, paired difference from the first with a 95 % interval), and
// write one report for all runs (with --credit, with A's first run's credit under A and B).
import { writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { loadPipelineOrFail } from "../load.js";
import { CompareError, type ComparedPipeline, checkComparable } from "../../runtime/loop/report/compare-check.js";
import { type SeedResult, finalEval, formatComparison, summarize } from "../../runtime/loop/report/compare-table.js";
import { writeReport, writeReportTryCredit } from "../../runtime/loop/report/html.js";
import { timestamp } from "../../runtime/loop/run/run-dir.js";
import { RunSeries } from "../run-series.js";
import { UserError } from "../errors.js";
import { parseIntOption } from "../options.js";
import { ensureDir } from "../../runtime/engine/fs-errors.js";

interface CompareFlags {
  seeds: number;
  seed: number;
  steps?: number;
  set: string[];
  out?: string;
  report?: string;
  quiet?: boolean;
  credit?: boolean;
  resume?: boolean;
}

/** Labels for the table and run directories: pipeline names, or file names where names repeat. */
function labels(items: readonly ComparedPipeline[]): string[] {
  const names = items.map((x) => x.pipeline.name);
  const unique = names.map((n, i) => (names.indexOf(n) === names.lastIndexOf(n) ? n : basename(items[i]!.file).replace(/\.acpo$/, "")));
  if (new Set(unique).size !== unique.length) throw new UserError("compare: two of the pipelines have the same name and file name; give each a distinct name");
  return unique;
}

export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description("train pipelines with the same seeds, model, task and budget; print final Acc@k / pass@k with paired 95 % intervals and write a report")
    .argument("<files...>", "pipeline files (the first is the baseline)")
    .option("--seeds <n>", "seeds per pipeline", parseIntOption, 3)
    .option("--seed <s>", "first seed (the runs use s, s+1, ...)", parseIntOption, 0)
    .option("--steps <n>", "optimizer steps per run (default: the stages' own end, which must agree)", parseIntOption)
    .option("--set <name=value>", "override a param in every pipeline (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--out <dir>", "directory for the runs (default runs/compare-<time>)")
    .option("-o, --report <file>", "report file (default <out>/report.html)")
    .option("--quiet", "no progress output from training")
    .option("--resume", "continue a comparison in --out: reuse its finished runs, continue interrupted ones from their checkpoints")
    .option("--credit", "add a credit view to the report: the baseline's first run re-scored under the second pipeline (acpo report --credit-vs)")
    .action(async (files: string[], o: CompareFlags) => {
      if (o.seeds < 1) throw new UserError("--seeds must be at least 1");
      if (o.resume && !o.out) throw new UserError("compare --resume needs --out DIR: the directory of the comparison to continue");
      const items: ComparedPipeline[] = files.map((file) => {
        const pipeline = loadPipelineOrFail(file, o.set, "nothing trained");
        return { file, pipeline };
      });
      let steps: number;
      try {
        steps = checkComparable(items, o.steps);
      } catch (e) {
        if (e instanceof CompareError) throw new UserError(e.message);
        throw e;
      }
      const names = labels(items);
      const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
      const root = resolve(o.out ?? join("runs", `compare-${timestamp(new Date())}`));
      ensureDir(root);
      const results: SeedResult[] = [];
      const runDirs: string[] = [];
      // Seed-major order: after each seed every pipeline has a paired result, so a long
      // comparison stopped early still holds complete pairs.
      const series = await RunSeries.open();
      try {
        for (const seed of seeds)
          for (const [i, item] of items.entries()) {
            process.stdout.write(`compare: ${names[i]} seed ${seed} (${steps} steps)\n`);
            const runDir = await series.trainOrReuse({ pipelinePath: item.file, set: o.set, steps, seed, outDir: join(root, `${names[i]}-seed${seed}`), quiet: o.quiet }, o.resume === true, "compare");
            runDirs.push(runDir);
            const final = finalEval(runDir);
            if (!final) throw new UserError(`${runDir}: the run wrote no evaluation (eval.jsonl), so it cannot be compared`);
            results.push({ pipeline: names[i]!, seed, runDir, ...final });
          }
      } finally {
        await series.close();
      }
      const comparison = summarize(results, names, seeds);
      const table = formatComparison(comparison);
      process.stdout.write(`\n${table}\n`);
      writeFileSync(join(root, "comparison.txt"), `${table}\n`);
      writeFileSync(join(root, "comparison.json"), `${JSON.stringify({ files, steps, ...comparison, runs: results }, null, 2)}\n`);
      const reportPath = resolve(o.report ?? join(root, "report.html"));
      const title = `acpo compare: ${names.join(" vs ")} (${seeds.length} seed${seeds.length === 1 ? "" : "s"}, ${steps} steps)`;
      if (!o.credit) writeReport(runDirs, reportPath, title);
      else {
        // The baseline's first run under the first two pipelines; the runs are done, so a view that cannot be built is a warning.
        const { warning } = await writeReportTryCredit(runDirs, reportPath, { pipeline: items[1]!.pipeline, source: items[1]!.file }, title);
        if (warning) process.stderr.write(`acpo: warning: ${warning}\n`);
      }
      process.stdout.write(`runs in ${root}\nreport: ${reportPath}\n`);
    });
}
