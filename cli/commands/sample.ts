// `acpo sample --model DIR --prompt TEXT [-n 8] [--temperature 1.0] [--top-p P] [--top-k K]
//  [--max-tokens N] [--seed S] [--stop STR] [--chat on|off] [--system TEXT] [--precision f32|f16]`: n samples of a
//  continuation, one JSON line each (with the prompt's token count, which shows the template).
import type { Command } from "commander";
import { promptIds } from "../../runtime/loop/eval/evaluate.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { UserError } from "../errors.js";
import { type GpuFlags, withGpu } from "../gpu-options.js";
import { parseFloatOption, parseIntOption } from "../options.js";
import { type PrecisionFlags, precisionChoice, withPrecisionOption } from "../precision-option.js";
import { applyPromptFormat, type PromptFlags, promptFormatOf, withPromptOptions } from "../prompt-options.js";

interface SampleFlags extends GpuFlags, PromptFlags, PrecisionFlags {
  model: string;
  prompt: string;
  n: number;
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
  seed: number;
  stop: string[];
}

export function registerSample(program: Command): void {
  const cmd = program
    .command("sample")
    .description("sample continuations of a prompt on the GPU (one JSON line per sample)")
    .requiredOption("--model <dir>", "model folder")
    .requiredOption("--prompt <text>", "prompt text (the tokenizer's BOS is prepended when it has one; with --chat on, the user's turn)")
    .option("-n, --n <count>", "number of samples", parseIntOption, 8)
    .option("--temperature <t>", "sampling temperature; 0 = greedy", parseFloatOption, 1.0)
    .option("--top-p <p>", "nucleus sampling mass in (0, 1]", parseFloatOption, 1.0)
    .option("--top-k <k>", "keep the k most likely tokens; 0 = off", parseIntOption, 0)
    .option("--max-tokens <n>", "maximum new tokens", parseIntOption, 96)
    .option("--seed <s>", "random seed", parseIntOption, 0)
    .option("--stop <string>", "stop string (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[]);
  withGpu(withPrecisionOption(withPromptOptions(cmd))).action(async (o: SampleFlags) => {
    if (o.n < 1) throw new UserError(`-n must be at least 1, got ${o.n}`);
    if (o.temperature < 0) throw new UserError(`--temperature must be >= 0, got ${o.temperature}`);
    if (!(o.topP > 0 && o.topP <= 1)) throw new UserError(`--top-p must be in (0, 1], got ${o.topP}`);
    if (o.maxTokens < 1) throw new UserError(`--max-tokens must be at least 1, got ${o.maxTokens}`);
    const format = promptFormatOf(o);
    await withGpu.run(o, async (gpu) => {
      const policy = Policy.load(gpu, o.model, precisionChoice(o));
      applyPromptFormat(policy, format, o.model);
      const ids = promptIds(policy, o.prompt);
      const g = await generate(policy, Array.from({ length: o.n }, () => ids), {
        maxNewTokens: o.maxTokens, temperature: o.temperature, topP: o.topP, topK: o.topK, seed: o.seed, stopStrings: o.stop,
      });
      for (let i = 0; i < o.n; i++) {
        const meanEntropy = g.entropies[i]!.reduce((a, b) => a + b, 0) / Math.max(1, g.entropies[i]!.length);
        console.log(JSON.stringify({ sample: i, text: g.text[i], finish: g.finish[i], prompt_tokens: ids.length, tokens: g.tokens[i]!.length, logprob: g.logprobs[i]!.reduce((a, b) => a + b, 0), mean_entropy: meanEntropy }));
      }
    });
  });
}
