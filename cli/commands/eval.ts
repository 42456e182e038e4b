// `acpo eval --model DIR --task countdown [-k 8] [--problems N] [--temperature T]
//  [--chat on|off] [--system TEXT] [--precision f32|f16]`:
// Acc@k, pass@k and greedy accuracy on the task's held-out split. `--problems 0` is the
// whole split; without --problems, the whole split when it has a fixed size (a jsonl file,
// or --option testSize=N), else 128 problems drawn from the generated split.
import type { Command } from "commander";
import { type EvalResult, evaluate } from "../../runtime/loop/eval/evaluate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { taskFromSpec } from "../../runtime/engine/tasks/registry.js";
import { UserError } from "../errors.js";
import { type GpuFlags, withGpu } from "../gpu-options.js";
import { collectTaskOption, parseFloatOption, parseIntOption } from "../options.js";
import { type PrecisionFlags, precisionChoice, withPrecisionOption } from "../precision-option.js";
import { applyPromptFormat, type PromptFlags, promptFormatOf, withPromptOptions } from "../prompt-options.js";

interface EvalFlags extends GpuFlags, PromptFlags, PrecisionFlags {
  option: Record<string, unknown>;
  model: string;
  task: string;
  k: number;
  problems?: number;
  temperature: number;
  maxTokens: number;
  seed: number;
  json?: boolean;
}

/** Problems evaluated by default from a split drawn on demand (it has no "whole"). */
const GENERATED_DEFAULT = 128;

export function formatEval(r: EvalResult): string {
  const pct = (x: number | null) => (x === null ? "-" : `${(100 * x).toFixed(1)} %`);
  return `eval (${r.split}, ${r.problems} problems, k=${r.k}, T=${r.temperature}): Acc@${r.k} ${pct(r.accAtK)}  pass@${r.k} ${pct(r.passAtK)}  greedy ${pct(r.greedyAccuracy)}  mean response ${r.meanResponseTokens.toFixed(1)} tokens`;
}

export function registerEval(program: Command): void {
  const cmd = program
    .command("eval")
    .description("Acc@k, pass@k and greedy accuracy of a policy on a task's held-out split")
    .requiredOption("--model <dir>", "model folder")
    .requiredOption("--task <name>", "task: countdown, arith or jsonl (with --option path=FILE)")
    .option("--option <key=value>", "task option, repeatable: numbers=3..4, values=1..20, target=1..60, testSize=200 (runtime/engine/tasks/README.md)", collectTaskOption, {} as Record<string, unknown>)
    .option("-k, --k <n>", "samples per problem", parseIntOption, 8)
    .option("--problems <n>", `held-out problems; 0 = the whole split (default: the whole split when it has a fixed size, else ${GENERATED_DEFAULT})`, parseIntOption)
    .option("--temperature <t>", "sampling temperature for Acc@k / pass@k", parseFloatOption, 1.0)
    .option("--max-tokens <n>", "maximum response tokens", parseIntOption, 96)
    .option("--seed <n>", "seed for problem choice and sampling", parseIntOption, 1)
    .option("--json", "print the result as JSON");
  withGpu(withPrecisionOption(withPromptOptions(cmd))).action(async (o: EvalFlags) => {
    if (o.k < 1) throw new UserError(`-k must be at least 1, got ${o.k}`);
    if (o.problems !== undefined && o.problems < 0) throw new UserError(`--problems must be at least 0 (0 = the whole split), got ${o.problems}`);
    const format = promptFormatOf(o);
    const task = taskFromSpec({ name: o.task, options: o.option });
    const problems = o.problems ?? (task.size("test") === null ? GENERATED_DEFAULT : 0);
    await withGpu.run(o, async (gpu) => {
      const policy = Policy.load(gpu, o.model, precisionChoice(o));
      applyPromptFormat(policy, format, o.model);
      const r = await evaluate(policy, task, { problems, k: o.k, temperature: o.temperature, maxNewTokens: o.maxTokens, seed: o.seed });
      console.log(o.json ? JSON.stringify({ ...r, examples: r.examples.slice(0, 4), prompt_format: format }) : formatEval(r));
    });
  });
}
