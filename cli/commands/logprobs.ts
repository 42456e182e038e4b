// `acpo logprobs --model DIR --ids 3,17,5 | --text TEXT [--precision f32|f16]`: log-probabilities and entropies
// of each next token under the model, as JSON.
import type { Command } from "commander";
import { Policy } from "../../runtime/engine/model/policy.js";
import { UserError } from "../errors.js";
import { withGpu } from "../gpu-options.js";
import { type PrecisionFlags, precisionChoice, withPrecisionOption } from "../precision-option.js";

export function registerLogprobs(program: Command): void {
  const cmd = program
    .command("logprobs")
    .description('print {"logprobs": [...], "entropies": [...]}: logprobs[i] = log p(ids[i+1] | ids[0..i])')
    .requiredOption("--model <dir>", "model folder (config.json, model.safetensors, tokenizer.json)")
    .option("--ids <list>", "comma-separated token ids")
    .option("--text <text>", "text to tokenize (no special tokens added)");
  withGpu(withPrecisionOption(cmd)).action(async (opts: { model: string; ids?: string; text?: string; backend?: string; adapter?: string } & PrecisionFlags) => {
    if ((opts.ids === undefined) === (opts.text === undefined)) throw new UserError("give exactly one of --ids or --text");
    await withGpu.run(opts, async (gpu) => {
      const policy = Policy.load(gpu, opts.model, precisionChoice(opts));
      const ids = opts.ids !== undefined ? parseIds(opts.ids) : policy.tokenizer.encode(opts.text!);
      if (ids.length < 2) throw new UserError(`need at least 2 tokens to score, got ${ids.length}`);
      if (ids.some((i) => i >= policy.config.vocabSize)) throw new UserError(`--ids: every id must be below the vocabulary size ${policy.config.vocabSize}`);
      const { logprobs, entropies } = await policy.score([ids]);
      console.log(JSON.stringify({ ids, logprobs: logprobs[0], entropies: entropies[0] }));
    });
  });
}

function parseIds(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === "" || !Number.isInteger(ids[i]) || ids[i]! < 0);
  if (bad >= 0) throw new UserError(`--ids: '${parts[bad]}' (item ${bad + 1}) is not a non-negative integer; expected e.g. --ids 3,17,5`);
  return ids;
}
