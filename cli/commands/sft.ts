// `acpo sft --task countdown --model DIR -o DIR2 [--chat on|off] [--system TEXT]
//  [--precision f32|f16]`: warm start
// on a task's worked solutions, then save the policy (HF layout) and report its accuracy on
// the held-out split. The prompt format applies to the training prompts and the evaluation.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { evaluate } from "../../runtime/loop/eval/evaluate.js";
import { outputErrorMessage, probeWritableDir } from "../../runtime/engine/fs-errors.js";
import { type Checkpoint, saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { taskFromSpec } from "../../runtime/engine/tasks/registry.js";
import { sft } from "../../runtime/loop/sft/sft.js";
import { UserError } from "../errors.js";
import { type GpuFlags, withGpu } from "../gpu-options.js";
import { collectTaskOption, parseFloatOption, parseIntOption } from "../options.js";
import { type PrecisionFlags, precisionChoice, withPrecisionOption } from "../precision-option.js";
import { applyPromptFormat, type PromptFlags, promptFormatOf, withPromptOptions } from "../prompt-options.js";
import { formatEval } from "./eval.js";

interface SftFlags extends GpuFlags, PromptFlags, PrecisionFlags {
  option: Record<string, unknown>;
  task: string;
  model: string;
  output: string;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  seed: number;
  evalProblems: number;
}

export function registerSft(program: Command): void {
  const cmd = program
    .command("sft")
    .description("supervised warm start on a task's step-by-step solutions; saves the policy")
    .requiredOption("--task <name>", "built-in task: countdown or arith")
    .option("--option <key=value>", "task option, repeatable: numbers=3..4, values=1..20, target=1..60 (runtime/engine/tasks/README.md)", collectTaskOption, {} as Record<string, unknown>)
    .requiredOption("--model <dir>", "model folder to start from (e.g. from 'acpo init-model')")
    .requiredOption("-o, --output <dir>", "folder for the trained policy")
    .option("--steps <n>", "optimiser steps", parseIntOption, 300)
    .option("--batch <n>", "solutions per step", parseIntOption, 32)
    .option("--lr <x>", "peak learning rate (cosine decay to 10 %)", parseFloatOption, 3e-3)
    .option("--warmup <n>", "linear warm-up steps", parseIntOption, 20)
    .option("--seed <n>", "seed for problem order", parseIntOption, 0)
    .option("--eval-problems <n>", "held-out problems to evaluate afterwards (0 = skip)", parseIntOption, 64);
  withGpu(withPrecisionOption(withPromptOptions(cmd))).action(async (o: SftFlags) => {
    if (o.steps < 1 || o.batch < 1) throw new UserError("--steps and --batch must be at least 1");
    const format = promptFormatOf(o);
    const task = taskFromSpec({ name: o.task, options: o.option });
    // Before minutes of training: an output folder that takes no files fails now, not at the save.
    try {
      probeWritableDir(o.output);
    } catch (e) {
      throw new UserError(outputErrorMessage(o.output, "write the trained policy", e, "or give another folder with -o"));
    }
    await withGpu.run(o, async (gpu) => {
      const policy = Policy.load(gpu, o.model, precisionChoice(o));
      applyPromptFormat(policy, format, o.model);
      if (format.chat) console.log(`prompts through the chat template${format.system !== null ? `, system ${JSON.stringify(format.system)}` : ""}`);
      const t0 = performance.now();
      await sft(policy, task, {
        steps: o.steps, batchSize: o.batch, seed: o.seed, weightDecay: 0.01, maxGradNorm: 1.0,
        schedule: { lr: o.lr, warmupSteps: o.warmup, decay: "cosine", totalSteps: o.steps, minRatio: 0.1 },
        logEvery: Math.max(1, Math.floor(o.steps / 20)),
        onLog: (step, loss, lr) => console.log(`sft step ${step}/${o.steps}  loss ${loss.toFixed(4)}  lr ${lr.toExponential(2)}  ${((performance.now() - t0) / 1000).toFixed(0)} s`),
      });
      savePolicy(o.output, { ...policy.checkpoint, weights: await policy.weights.download() });
      console.log(`saved ${o.output}`);
      if (o.evalProblems > 0) {
        const r = await evaluate(policy, task, { problems: o.evalProblems, k: 8, temperature: 1, maxNewTokens: 96, seed: 1 });
        console.log(formatEval(r));
      }
    });
  });
}

/**
 * Save the trained policy; when `dir` fails (the disk filled during training, say), try a
 * fresh folder under the system's temporary directory so the training is not lost, and
 * say where it went. Either way a failure is an error naming the path and the fix.
 */
function savePolicy(dir: string, ck: Omit<Checkpoint, "dir">): void {
  try {
    saveCheckpoint(dir, ck);
    return;
  } catch (e) {
    let rescue: string | null = null;
    try {
      rescue = mkdtempSync(join(tmpdir(), "acpo-sft-"));
      saveCheckpoint(rescue, ck);
    } catch {
      rescue = null;
    }
    const after = rescue ? `the trained policy was saved to ${rescue} instead; move it where you want it` : "the trained policy could not be saved anywhere; fix this and run sft again";
    throw new UserError(outputErrorMessage(dir, "save the trained policy", e, after));
  }
}
