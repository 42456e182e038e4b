// `acpo replay FILE.acpo --batch BATCH.json [--stage NAME] [--set k=v] [--interpret]`: run one
// stage's compiled kernels on a recorded batch (spec/batch.md; samples.jsonl works too) and
// print JSON: per response the base advantage, per step C and the named step values (ACPO's
// w), per token advantage, weight, ratio, clip flags, KL and loss contribution; the loss.
import type { Command } from "commander";
import { loadPipelineOrFail } from "../load.js";
import { BatchError, readBatchFile } from "../../compiler/plan/batch-file.js";
import { replay } from "../../compiler/plan/replay.js";
import { UserError } from "../errors.js";
import { withGpu } from "../gpu-options.js";

export function registerReplay(program: Command): void {
  const cmd = program
    .command("replay")
    .description("run one stage of a pipeline on a recorded batch and print per-sequence/step/token credit as JSON")
    .argument("<file>", "pipeline file")
    .requiredOption("--batch <path>", "batch file (.json) or samples.jsonl, see spec/batch.md")
    .option("--stage <name>", "stage to run (default: the first)")
    .option("--set <name=value>", "override a param (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--interpret", "use the reference interpreter (float64, no GPU) instead of the compiled kernels");
  withGpu(cmd).action(async (file: string, opts: { batch: string; stage?: string; set: string[]; interpret?: boolean; backend?: string; adapter?: string }) => {
    const pipeline = loadPipelineOrFail(file, opts.set, "");
    try {
      const batch = readBatchFile(opts.batch);
      const result = opts.interpret
        ? await replay(pipeline, opts.stage, batch, opts.batch)
        : await withGpu.run(opts, (gpu) => replay(pipeline, opts.stage, batch, opts.batch, { gpu }));
      process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
    } catch (e) {
      if (e instanceof BatchError) throw new UserError(e.message);
      throw e;
    }
  });
}
