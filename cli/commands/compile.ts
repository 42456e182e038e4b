// `acpo compile FILE.acpo -o DIR [--set name=value] [--explain]`: check a pipeline, lower each
// stage to fused WGSL kernels, and write a self-contained plan (compiler/plan/plan.ts).
// `--explain` also prints the resolved pipeline with every default filled in.
import type { Command } from "commander";
import { printPipeline } from "../../compiler/index.js";
import { loadPipelineOrFail } from "../load.js";
import { PlanWriteError, writePlan } from "../../compiler/plan/plan.js";
import { UserError } from "../errors.js";

export function registerCompile(program: Command): void {
  program
    .command("compile")
    .description("compile a pipeline into a plan directory: plan.json, pipeline.acpo, kernels/*.wgsl")
    .argument("<file>", "pipeline file")
    .requiredOption("-o, --out <dir>", "plan directory to write")
    .option("--set <name=value>", "override a param (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--explain", "print the resolved pipeline with every default filled in")
    .action((file: string, opts: { out: string; set: string[]; explain?: boolean }) => {
      const pipeline = loadPipelineOrFail(file, opts.set, "no plan written");
      if (opts.explain) process.stdout.write(printPipeline(pipeline));
      let files: string[];
      try {
        files = writePlan(opts.out, pipeline);
      } catch (e) {
        if (e instanceof PlanWriteError) throw new UserError(e.message);
        throw e;
      }
      const kernels = files.filter((f) => f.endsWith(".wgsl")).length;
      process.stdout.write(`${file}: plan for pipeline ${pipeline.name} written to ${opts.out} (${pipeline.stages.length} stage${pipeline.stages.length === 1 ? "" : "s"}, ${kernels} kernels)\n`);
    });
}
