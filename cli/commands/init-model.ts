// `acpo init-model DIR --preset tiny|small|base [--tokenizer char|PATH] [--seed S]`:
// a freshly initialised Hugging Face-layout model folder.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { saveCheckpoint } from "../../runtime/model/checkpoint.js";
import { parameterCount } from "../../runtime/model/layout.js";
import { PRESETS, initWeights, presetConfig } from "../../runtime/model/presets.js";
import { TextTokenizer, charTokenizerFiles } from "../../runtime/model/tokenizer.js";
import { UserError } from "../errors.js";
import { parseIntOption } from "../options.js";

/** Whole-word tokens of the character tokenizer: the transition markers and answer tags tasks use. */
export const CHAR_TOKENIZER_WORDS = ["First", "Then", "Next", "So", "Thus", "Finally", "However", "<answer>", "</answer>"];

export function registerInitModel(program: Command): void {
  program
    .command("init-model")
    .description("write a freshly initialised model folder (config.json, model.safetensors, tokenizer)")
    .argument("<dir>", "output folder (created; existing model files are replaced)")
    .option("--preset <name>", `model size: ${Object.keys(PRESETS).join(", ")}`, "tiny")
    .option("--tokenizer <char|dir>", "'char' (characters plus task words) or a folder holding tokenizer.json", "char")
    .option("--seed <n>", "initialisation seed", parseIntOption, 0)
    .action((dir: string, opts: { preset: string; tokenizer: string; seed: number }) => {
      if (!PRESETS[opts.preset]) throw new UserError(`unknown preset '${opts.preset}' (choose one of: ${Object.keys(PRESETS).join(", ")})`);
      const files = opts.tokenizer === "char" ? charTokenizerFiles(CHAR_TOKENIZER_WORDS) : readTokenizerFolder(opts.tokenizer);
      const tok = new TextTokenizer(files.tokenizer, files.tokenizerConfig, opts.tokenizer);
      const config = presetConfig(opts.preset, tok.vocabSize, tok.bosId, tok.eosIds);
      const weights = initWeights(config, opts.seed);
      saveCheckpoint(dir, {
        config,
        weights,
        tokenizer: files.tokenizer,
        tokenizerConfig: files.tokenizerConfig,
        generationConfig: { bos_token_id: tok.bosId, eos_token_id: tok.eosIds.length === 1 ? tok.eosIds[0] : tok.eosIds, do_sample: true, temperature: 1.0 },
      });
      console.log(`wrote ${dir}: ${config.architecture}, preset ${opts.preset}, ${parameterCount(config).toLocaleString("en-US")} parameters, vocabulary ${config.vocabSize}, seed ${opts.seed}`);
    });
}

function readTokenizerFolder(dir: string): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const tj = join(dir, "tokenizer.json");
  if (!existsSync(tj)) throw new UserError(`--tokenizer ${dir}: no tokenizer.json there (pass 'char' or a model folder with tokenizer.json)`);
  const read = (p: string) => {
    try {
      return JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new UserError(`${p}: not valid JSON (${(e as Error).message})`);
    }
  };
  const tc = join(dir, "tokenizer_config.json");
  return { tokenizer: read(tj), tokenizerConfig: existsSync(tc) ? read(tc) : {} };
}
