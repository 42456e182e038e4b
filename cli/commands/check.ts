// `acpo check FILE... [--set name=value]`: parse and check pipelines, print every problem
// as file:line:col with the source line and a caret; exit 0 when all are clean, else 1.
import type { Command } from "commander";
import { formatAll, loadPipeline, printPipeline } from "../../compiler/index.js";

export function registerCheck(program: Command): void {
  program
    .command("check")
    .description("check .acpo pipelines: syntax, names, granularity, ranges, stages")
    .argument("<files...>", "pipeline files")
    .option("--set <name=value>", "override a param (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--explain", "print each resolved pipeline with every default filled in")
    .action((files: string[], opts: { set: string[]; explain?: boolean }) => {
      let failed = 0;
      for (const file of files) {
        const r = loadPipeline(file, { set: opts.set });
        if (r.pipeline) {
          if (opts.explain) process.stdout.write(printPipeline(r.pipeline));
          else process.stdout.write(`${file}: ok (pipeline ${r.pipeline.name}, ${r.pipeline.stages.length} stage${r.pipeline.stages.length === 1 ? "" : "s"})\n`);
        } else {
          failed++;
          process.stderr.write(`${formatAll(r)}\n\n`);
          const n = r.diagnostics.length;
          process.stderr.write(`${file}: ${n} error${n === 1 ? "" : "s"}\n`);
        }
      }
      process.exitCode = failed > 0 ? 1 : 0;
    });
}
