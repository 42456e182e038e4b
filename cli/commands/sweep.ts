// `acpo sweep FILE --grid name=v1,v2 [--grid ...] --seeds N [--steps N] [--baseline CELL] [--out DIR --resume]`:
// train one pipeline at every cell of a grid over its params (the settings `--set`
// reaches) and over two blocks (`--grid segment=entropy,newline,fixed,none`, `--grid
// attribution=loglik,perplexity`: a child pipeline that replaces the block, sweep-cells.ts)
// with the same seeds, print each cell's final Acc@k and pass@k and, from the training
// curves, var(C) and the last step's entropy (mean ± sd over seeds, paired difference from
// the baseline cell with a 95 % interval), and write one report: the tables, per-cell mean
// curves with the seeds as thin lines, then every run's curves. `acpo compare` is the
// command for different files.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { formatAll, formatWarnings, loadPipeline, type Pipeline } from "../../compiler/index.js";
import { loadPipelineOrFail } from "../load.js";
import { type Comparison, type SeedResult, finalEval, formatComparison, summarize } from "../../runtime/loop/report/compare-table.js";
import { SweepError, type SweepCell, baselineFirst, cellDirName, gridCells, parseGrid } from "../../runtime/loop/report/sweep-grid.js";
import { cellSource } from "../../runtime/loop/report/sweep-cells.js";
import { extrasTable, formatExtras, runExtras, summarizeExtras } from "../../runtime/loop/report/sweep-extras.js";
import { cellCurves } from "../../runtime/loop/report/sweep-curves.js";
import { loadRun } from "../../runtime/loop/report/load.js";
import { type ReportSection, writeSectionReport } from "../../runtime/loop/report/sections.js";
import { timestamp } from "../../runtime/loop/run/run-dir.js";
import { RunSeries } from "../run-series.js";
import { UserError } from "../errors.js";
import { parseIntOption } from "../options.js";
import { ensureDir } from "../../runtime/engine/fs-errors.js";

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
  resume?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

/** A planned cell: the pipeline file it trains, and the child source to write there first (block axes). */
interface PlannedCell extends SweepCell {
  file: string;
  source: string | null;
}

/** Check a cell's child pipeline (not yet written) as loadPipelineOrFail checks a file. */
function checkChild(path: string, text: string, set: readonly string[], label: string): void {
  const r = loadPipeline(path, { text, set });
  if (r.warnings.length > 0) process.stderr.write(`${formatWarnings(r)}\n\n`);
  if (!r.pipeline) {
    process.stderr.write(`${text}\n${formatAll(r)}\n\n`);
    throw new UserError(`${path} (cell ${label}): ${r.diagnostics.length} error${r.diagnostics.length === 1 ? "" : "s"}; nothing trained`);
  }
}

/** The grid's cells, baseline first; each cell's pipeline is checked before anything trains. */
function plannedCells(file: string, o: SweepFlags, root: string): PlannedCell[] {
  let cells: SweepCell[];
  try {
    cells = baselineFirst(gridCells(parseGrid(o.grid, o.set)), o.baseline);
  } catch (e) {
    if (e instanceof SweepError) throw new UserError(e.message);
    throw e;
  }
  const parent: Pipeline | null = cells.some((c) => c.blocks.length > 0) ? loadPipelineOrFail(file, o.set, "nothing trained") : null;
  // A value out of a param's bounds, or a name that is no param, fails here with the
  // checker's own diagnostic (pointing into --set), not after hours of other cells.
  return cells.map((c) => {
    const set = [...o.set, ...c.set];
    if (!parent) {
      loadPipelineOrFail(file, set, `cell ${c.label}: nothing trained`);
      return { ...c, file, source: null };
    }
    const child = join(root, "cells", `${cellDirName(c)}.acpo`);
    const source = cellSource(c, resolve(file), parent);
    if (source === null) {
      loadPipelineOrFail(file, set, `cell ${c.label}: nothing trained`);
      return { ...c, file, source: null };
    }
    checkChild(child, source, set, c.label);
    return { ...c, file: child, source };
  });
}

/** The final-evaluation table as header and rows, for the report. */
function comparisonTable(c: Comparison): { header: string[]; rows: string[][] } {
  const text = formatComparison(c, "cell").split("\n");
  // Reuse the text table's cells: columns are separated by two or more spaces.
  const split = (l: string) => l.trim().split(/\s{2,}/);
  return { header: split(text[1]!), rows: text.slice(3).map(split) };
}

function sweepSection(file: string, comparison: Comparison, extras: ReturnType<typeof summarizeExtras>, cells: readonly PlannedCell[], runs: readonly { cell: string; seed: number; runDir: string }[]): ReportSection {
  const n = comparison.seeds.length;
  const tables = [{ ...comparisonTable(comparison), note: `Final evaluation at step ${comparison.step} (${comparison.split} split), ${n} seed${n === 1 ? "" : "s"}; Δ in percentage points, paired by seed, 95 % t-interval.` }];
  if (extras.keys.length > 0) tables.push({ ...extrasTable(extras), note: "From metrics.jsonl: var(C) is attribution_std² per optimizer step averaged over the run; H is entropy_mean at the last step. Δ paired by seed, 95 % t-interval." });
  const loaded = cells.map((c) => ({ cell: c.label, runs: runs.filter((r) => r.cell === c.label).map((r) => ({ seed: r.seed, run: loadRun(r.runDir) })) }));
  return { id: "sweep", title: "Sweep: cells over seeds", note: `acpo sweep ${file}: baseline ${cells[0]!.label}. Curves: thick line the mean over seeds, thin lines the seeds.`, tables, charts: cellCurves(loaded) };
}

export function registerSweep(program: Command): void {
  program
    .command("sweep")
    .description("train one pipeline over a grid of its params (and of its segment or attribution block) with shared seeds; print final Acc@k / pass@k, var(C) and final entropy with paired 95 % intervals against a baseline cell and write a report")
    .argument("<file>", "the .acpo pipeline")
    .option("--grid <name=v1,v2,...>", "a param and the values to try, or segment=entropy,newline,fixed,fixed:N,none or attribution=loglik,perplexity (repeatable; the grid is every combination)", collect, [] as string[])
    .option("--seeds <n>", "seeds per cell", parseIntOption, 3)
    .option("--seed <s>", "first seed (the runs use s, s+1, ...)", parseIntOption, 0)
    .option("--steps <n>", "optimizer steps per run (default: the stages' own end)", parseIntOption)
    .option("--set <name=value>", "fix a param in every cell (repeatable)", collect, [] as string[])
    .option("--baseline <cell>", "the cell the others are compared with, e.g. \"lr=3e-4 alpha=0\" (default: the first)")
    .option("--out <dir>", "directory for the runs (default runs/sweep-<time>)")
    .option("-o, --report <file>", "report file (default <out>/report.html)")
    .option("--quiet", "no progress output from training")
    .option("--resume", "continue a sweep in --out: reuse its finished runs, continue interrupted ones from their checkpoints")
    .action(async (file: string, o: SweepFlags) => {
      if (o.seeds < 1) throw new UserError("--seeds must be at least 1");
      if (o.resume && !o.out) throw new UserError("sweep --resume needs --out DIR: the directory of the sweep to continue");
      if (o.steps !== undefined && o.steps < 1) throw new UserError("--steps must be at least 1");
      const root = resolve(o.out ?? join("runs", `sweep-${timestamp(new Date())}`));
      const cells = plannedCells(file, o, root);
      const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
      ensureDir(root);
      for (const c of cells)
        if (c.source !== null) {
          mkdirSync(join(root, "cells"), { recursive: true });
          writeFileSync(c.file, c.source);
        }
      const results: SeedResult[] = [];
      const extraRuns: { cell: string; seed: number; runDir: string; extras: Record<string, number> }[] = [];
      const runDirs: string[] = [];
      // Seed-major order, as in compare: a sweep stopped early still holds complete pairs.
      const series = await RunSeries.open();
      try {
        for (const seed of seeds)
          for (const cell of cells) {
            process.stdout.write(`sweep: ${cell.label} seed ${seed}\n`);
            const run = { pipelinePath: cell.file, set: [...o.set, ...cell.set], steps: o.steps, seed, outDir: join(root, `${cellDirName(cell)}-seed${seed}`), quiet: o.quiet };
            const runDir = await series.trainOrReuse(run, o.resume === true, "sweep");
            runDirs.push(runDir);
            const final = finalEval(runDir);
            if (!final) throw new UserError(`${runDir}: the run wrote no evaluation (eval.jsonl); add an eval block so the sweep has something to compare`);
            results.push({ pipeline: cell.label, seed, runDir, ...final });
            extraRuns.push({ cell: cell.label, seed, runDir, extras: runExtras(runDir) });
          }
      } finally {
        await series.close();
      }
      const labels = cells.map((c) => c.label);
      const comparison = summarize(results, labels, seeds);
      const extras = summarizeExtras(extraRuns, labels, seeds);
      const extrasText = formatExtras(extras);
      const table = `${formatComparison(comparison, "cell")}${extrasText ? `\n\n${extrasText}` : ""}`;
      process.stdout.write(`\n${table}\n`);
      writeFileSync(join(root, "sweep.txt"), `${table}\n`);
      const extrasJson = extras.rows.map((r) => ({ cell: r.cell, ...r.values }));
      writeFileSync(join(root, "sweep.json"), `${JSON.stringify({ file, grid: o.grid, set: o.set, baseline: labels[0], cells: cells.map((c) => ({ label: c.label, set: c.set, blocks: c.blocks, file: c.file })), ...comparison, extras: extrasJson, runs: results }, null, 2)}\n`);
      const reportPath = resolve(o.report ?? join(root, "report.html"));
      const title = `acpo sweep: ${file} over ${labels.length} cell${labels.length === 1 ? "" : "s"} (${seeds.length} seed${seeds.length === 1 ? "" : "s"}); baseline ${labels[0]}`;
      writeSectionReport(runDirs, reportPath, title, [sweepSection(file, comparison, extras, cells, extraRuns)]);
      process.stdout.write(`runs in ${root}\nreport: ${reportPath}\n`);
    });
}
