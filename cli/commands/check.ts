// `acpo check FILE... [--set name=value]`: parse and check pipelines, print every problem
// as file:line:col with the source line and a caret; exit 0 when no file has an error
// (warnings are printed but do not fail the check), else 1.
import type { Command } from "commander";
import { formatAll, formatWarnings, loadPipeline, printPipeline } from "../../compiler/index.js";

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
        if (r.warnings.length > 0) process.stderr.write(`${formatWarnings(r)}\n\n`);
        if (r.pipeline) {
          if (opts.explain) process.stdout.write(printPipeline(r.pipeline));
          else {
            const n = r.pipeline.stages.length;
            const w = r.warnings.length;
            process.stdout.write(`${file}: ok (pipeline ${r.pipeline.name}, ${n} stage${n === 1 ? "" : "s"}${w ? `, ${w} warning${w === 1 ? "" : "s"}` : ""})\n`);
          }
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
