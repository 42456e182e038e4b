// `acpo train FILE.acpo [--steps N] [--out DIR] [--seed S] [--set k=v]`, `acpo train --resume
// RUN_DIR` and `acpo run PLAN_DIR [...]`: the RL loop (runtime/loop/rl/trainer.ts). A resumed run
// uses its own stored pipeline, seed and steps (spec/run.md "Resume"). Exit status 130 when
// Ctrl-C stopped the run (after its checkpoint), as shells expect of an interrupted command.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { formatWarnings, loadPipeline } from "../../compiler/index.js";
import { loadPlan } from "../../compiler/plan/plan.js";
import { type TrainOptions, type TrainResult, train } from "../../runtime/loop/rl/trainer.js";
import { UserError } from "../errors.js";
import { type GpuFlags, withGpu } from "../gpu-options.js";
import { refuseUnfit } from "../memory-plan.js";
import { parsePositiveIntOption, parseSeedOption } from "../options.js";

interface TrainFlags extends GpuFlags {
  steps?: number;
  out?: string;
  seed?: number;
  set: string[];
  resume?: string;
  checkpointEvery: number;
  samplesPerStep: number;
  quiet?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

function common(cmd: Command): Command {
  return withGpu(cmd)
    .option("--steps <n>", "optimizer steps, >= 1 (default: until the last stage ends)", parsePositiveIntOption)
    .option("--out <dir>", "run directory (default: runs/<pipeline>-<time>)")
    .option("--seed <n>", "seed of the run's random generator, in [0, 4294967295] (default: the pipeline's)", parseSeedOption)
    .option("--set <name=value>", "override a param (repeatable)", collect, [] as string[])
    .option("--checkpoint-every <n>", "checkpoint every n steps, >= 1 (and at the end)", parsePositiveIntOption, 25)
    .option("--samples-per-step <n>", "trajectories written to samples.jsonl per step, >= 1 (whole groups; prompts x group records all)", parsePositiveIntOption, 4)
    .option("--quiet", "no progress output");
}

async function runTraining(flags: TrainFlags, o: TrainOptions): Promise<void> {
  const r = await withGpu.run(flags, (gpu) => {
    // A run that cannot fit the adapter fails here, with its memory plan, before it starts.
    const loaded = o.pipelinePath && !o.resume ? loadPipeline(o.pipelinePath, { set: o.set }) : undefined;
    // W0501 and the like: e.g. a stage whose `until` can never hold trains until killed.
    if (loaded && loaded.warnings.length > 0) process.stderr.write(`${formatWarnings(loaded)}\n\n`);
    if (loaded?.pipeline) refuseUnfit(gpu, loaded.pipeline);
    return train({ ...o, gpu, steps: flags.steps, seed: flags.seed, outDir: flags.out, checkpointEvery: flags.checkpointEvery, samplesPerStep: flags.samplesPerStep, quiet: flags.quiet, argv: process.argv.slice(2) });
  });
  const fmt = (e: TrainResult["lastEval"]) => (e ? Object.entries(e.metrics).map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join("  ") : "-");
  console.log(`run ${r.runDir}: ${r.steps} steps`);
  const width = `after (step ${r.lastEval?.step ?? 0}):`.length + 2;
  if (r.firstEval) console.log(`${"before (step 0):".padEnd(width)}${fmt(r.firstEval)}`);
  if (r.lastEval) console.log(`${`after (step ${r.lastEval.step}):`.padEnd(width)}${fmt(r.lastEval)}`);
  if (r.interrupted) process.exitCode = 130; // 128 + SIGINT
}

export function registerTrain(program: Command): void {
  common(program.command("train").description("train a policy with an .acpo pipeline").argument("[file]", "the .acpo pipeline"))
    .option("--resume <run_dir>", "continue a run from its latest checkpoint, with its own pipeline, seed and steps")
    .action(async (file: string | undefined, flags: TrainFlags) => {
      if (!file && !flags.resume) throw new UserError("give a pipeline file (acpo train examples/acpo.acpo) or --resume RUN_DIR");
      // With --resume a FILE is only compared with the run's stored pipeline (the trainer says when it differs).
      if (file && !flags.resume && !existsSync(file)) throw new UserError(`${file}: no such file`);
      await runTraining(flags, { pipelinePath: file, set: flags.set, resume: flags.resume });
    });
  common(program.command("run").description("train from a compiled plan (acpo compile FILE.acpo -o DIR)").argument("<plan_dir>", "the plan directory"))
    .action(async (dir: string, flags: TrainFlags) => {
      const plan = loadPlan(dir, { set: flags.set });
      await runTraining(flags, { plan, set: flags.set });
    });
}
