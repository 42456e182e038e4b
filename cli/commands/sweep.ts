// `acpo sweep FILE --grid name=v1,v2 [--grid ...] --seeds N [--steps N] [--baseline CELL]`:
// train one pipeline at every cell of a grid over its params (the settings `--set`
// reaches) with the same seeds, print each cell's final Acc@k and pass@k (mean ± sd over
// seeds, paired difference from the baseline cell with a 95 % interval), and write one
// report with every run's curves. `acpo compare` is the command for different files.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadPipelineOrFail } from "../load.js";
import { type SeedResult, finalEval, formatComparison, summarize } from "../../runtime/report/compare-table.js";
import { SweepError, type SweepCell, baselineFirst, cellDirName, gridCells, parseGrid } from "../../runtime/report/sweep-grid.js";
import { writeReport } from "../../runtime/report/html.js";
import { timestamp } from "../../runtime/rl/run-dir.js";
import { train } from "../../runtime/rl/trainer.js";
import { UserError } from "../errors.js";
import { parseIntOption } from "../options.js";
import { ensureDir } from "../../runtime/fs-errors.js";

interface SweepFlags {
  grid: string[];
  seeds: number;
  seed: number;
  steps?: number;
  set: string[];
  baseline?: string;
  out?: string;
  report?: string;
  quiet?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

/** The grid's cells, baseline first; each cell's pipeline is checked before anything trains. */
function plannedCells(file: string, o: SweepFlags): SweepCell[] {
  let cells: SweepCell[];
  try {
    cells = baselineFirst(gridCells(parseGrid(o.grid, o.set)), o.baseline);
  } catch (e) {
    if (e instanceof SweepError) throw new UserError(e.message);
    throw e;
  }
  // A value out of a param's bounds, or a name that is no param, fails here with the
  // checker's own diagnostic (pointing into --set), not after hours of other cells.
  for (const c of cells) loadPipelineOrFail(file, [...o.set, ...c.set], `cell ${c.label}: nothing trained`);
  return cells;
}

export function registerSweep(program: Command): void {
  program
    .command("sweep")
    .description("train one pipeline over a grid of its params with shared seeds; print final Acc@k / pass@k with paired 95 % intervals against a baseline cell and write a report")
    .argument("<file>", "the .acpo pipeline")
    .option("--grid <name=v1,v2,...>", "a param and the values to try (repeatable; the grid is every combination)", collect, [] as string[])
    .option("--seeds <n>", "seeds per cell", parseIntOption, 3)
    .option("--seed <s>", "first seed (the runs use s, s+1, ...)", parseIntOption, 0)
    .option("--steps <n>", "optimizer steps per run (default: the stages' own end)", parseIntOption)
    .option("--set <name=value>", "fix a param in every cell (repeatable)", collect, [] as string[])
    .option("--baseline <cell>", "the cell the others are compared with, e.g. \"lr=3e-4 alpha=0\" (default: the first)")
    .option("--out <dir>", "directory for the runs (default runs/sweep-<time>)")
    .option("-o, --report <file>", "report file (default <out>/report.html)")
    .option("--quiet", "no progress output from training")
    .action(async (file: string, o: SweepFlags) => {
      if (o.seeds < 1) throw new UserError("--seeds must be at least 1");
      if (o.steps !== undefined && o.steps < 1) throw new UserError("--steps must be at least 1");
      const cells = plannedCells(file, o);
      const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
      const root = resolve(o.out ?? join("runs", `sweep-${timestamp(new Date())}`));
      ensureDir(root);
      const results: SeedResult[] = [];
      const runDirs: string[] = [];
      // Seed-major order, as in compare: a sweep stopped early still holds complete pairs.
      for (const seed of seeds)
        for (const cell of cells) {
          process.stdout.write(`sweep: ${cell.label} seed ${seed}\n`);
          const { runDir } = await train({ pipelinePath: file, set: [...o.set, ...cell.set], steps: o.steps, seed, outDir: join(root, `${cellDirName(cell)}-seed${seed}`), quiet: o.quiet });
          runDirs.push(runDir);
          const final = finalEval(runDir);
          if (!final) throw new UserError(`${runDir}: the run wrote no evaluation (eval.jsonl); add an eval block so the sweep has something to compare`);
          results.push({ pipeline: cell.label, seed, runDir, ...final });
        }
      const labels = cells.map((c) => c.label);
      const comparison = summarize(results, labels, seeds);
      const table = formatComparison(comparison, "cell");
      process.stdout.write(`\n${table}\n`);
      writeFileSync(join(root, "sweep.txt"), `${table}\n`);
      writeFileSync(join(root, "sweep.json"), `${JSON.stringify({ file, grid: o.grid, set: o.set, baseline: labels[0], cells: cells.map((c) => ({ label: c.label, set: c.set })), ...comparison, runs: results }, null, 2)}\n`);
      const reportPath = resolve(o.report ?? join(root, "report.html"));
      writeReport(runDirs, reportPath, `acpo sweep: ${file} over ${labels.length} cell${labels.length === 1 ? "" : "s"} (${seeds.length} seed${seeds.length === 1 ? "" : "s"}); baseline ${labels[0]}`);
      process.stdout.write(`runs in ${root}\nreport: ${reportPath}\n`);
    });
}
