// `acpo init-model DIR --preset tiny|small|base [--tokenizer char|PATH] [--seed S] [--force]`:
// a freshly initialised Hugging Face-layout model folder. An existing model folder (a trained
// policy, perhaps) is replaced only with --force.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { parameterCount } from "../../runtime/engine/model/layout.js";
import { PRESETS, initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { TextTokenizer, charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { UserError } from "../errors.js";
import { writeErrorMessage } from "../../runtime/engine/write-errors.js";
import { parseSeedOption } from "../options.js";

/** Whole-word tokens of the character tokenizer: the transition markers and answer tags tasks use. */
export const CHAR_TOKENIZER_WORDS = ["First", "Then", "Next", "So", "Thus", "Finally", "However", "<answer>", "</answer>"];

export function registerInitModel(program: Command): void {
  program
    .command("init-model")
    .description("write a freshly initialised model folder (config.json, model.safetensors, tokenizer)")
    .argument("<dir>", "output folder (created; an existing model folder is replaced only with --force)")
    .option("--preset <name>", `model size: ${Object.keys(PRESETS).join(", ")}`, "tiny")
    .option("--tokenizer <char|dir>", "'char' (characters plus task words) or a folder holding tokenizer.json", "char")
    .option("--seed <n>", "initialisation seed, an integer in [0, 4294967295]", parseSeedOption, 0)
    .option("--force", "replace the model files of an existing model folder")
    .action((dir: string, opts: { preset: string; tokenizer: string; seed: number; force?: boolean }) => {
      if (!PRESETS[opts.preset]) throw new UserError(`unknown preset '${opts.preset}' (choose one of: ${Object.keys(PRESETS).join(", ")})`);
      refuseExisting(dir, opts.force === true);
      const files = opts.tokenizer === "char" ? charTokenizerFiles(CHAR_TOKENIZER_WORDS) : readTokenizerFolder(opts.tokenizer);
      const tok = new TextTokenizer(files.tokenizer, files.tokenizerConfig, opts.tokenizer);
      const config = presetConfig(opts.preset, tok.vocabSize, tok.bosId, tok.eosIds);
      const weights = initWeights(config, opts.seed);
      try {
        saveCheckpoint(dir, {
          config,
          weights,
          tokenizer: files.tokenizer,
          tokenizerConfig: files.tokenizerConfig,
          generationConfig: { bos_token_id: tok.bosId, eos_token_id: tok.eosIds.length === 1 ? tok.eosIds[0] : tok.eosIds, do_sample: true, temperature: 1.0 },
        });
      } catch (e) {
        throw new UserError(writeErrorMessage(dir, "write the model folder", e));
      }
      console.log(`wrote ${dir}: ${config.architecture}, preset ${opts.preset}, ${parameterCount(config).toLocaleString("en-US")} parameters, vocabulary ${config.vocabSize}, seed ${opts.seed}`);
    });
}

/** Files whose presence makes a folder a model folder (runtime/engine/model/checkpoint.ts). */
const MODEL_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json"];

/** A model folder already at `dir` is someone's work: replace it only when asked. */
function refuseExisting(dir: string, force: boolean): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return; // a file there fails at the write, with its own message
  const found = MODEL_FILES.filter((f) => existsSync(join(dir, f)));
  if (found.length === 0 || force) return;
  throw new UserError(`${dir}: already holds a model folder (${found.join(", ")}); pass --force to replace it, or choose another folder`);
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
