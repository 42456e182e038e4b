// `acpo export verl FILE.acpo [--set name=value] -o DIR`: a pipeline as a verl plug-in package
// (export/verl/). Features verl cannot run as written are refused with their reasons and
// nothing is written.
import { existsSync, readdirSync } from "node:fs";
import type { Command } from "commander";
import { loadPipelineOrFail } from "../load.js";
import { ExportRefused, planExport, writeExport } from "../../export/verl/index.js";
import { UserError } from "../errors.js";

export function registerExport(program: Command): void {
  const exp = program.command("export").description("package a pipeline for another training engine");
  exp
    .command("verl")
    .description("write a Python package registering the pipeline's advantage estimator and policy loss with verl")
    .argument("<file>", "pipeline file")
    .requiredOption("-o, --out <dir>", "folder to write the package to (new or empty)")
    .option("--set <name=value>", "override a param (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action((file: string, opts: { out: string; set: string[] }) => {
      const pipeline = loadPipelineOrFail(file, opts.set, "nothing exported");
      if (existsSync(opts.out) && readdirSync(opts.out).length > 0) throw new UserError(`${opts.out} is not empty; give a new or empty folder to export to`);
      let plan;
      try {
        plan = planExport(pipeline);
      } catch (e) {
        if (e instanceof ExportRefused) throw new UserError(`${file}: ${e.message}\nnothing exported`);
        throw e;
      }
      const files = writeExport(plan, opts.out);
      process.stdout.write(`${file}: pipeline ${pipeline.name} exported to ${opts.out} as package ${plan.pkg} (${files.length} files); see ${opts.out}/README.md\n`);
    });
}
