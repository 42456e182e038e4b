// Shared helpers for the compiler tests: check inline source, locate expected positions.
import { loadPipeline, printPipeline, type LoadResult, type Pipeline } from "../../compiler/index.js";

/** A valid pipeline around `body` (items placed after the required settings). */
export function withBody(body: string, opts: { advantage?: boolean; stage?: boolean } = {}): string {
  const adv = opts.advantage === false ? "" : "  advantage = r - mean(r over group)\n";
  const stage = opts.stage === false ? "" : "  stage train until steps >= 10 { kl 0 }\n";
  return `pipeline t {
  model "m"
  task countdown { numbers 3..4 }
  rollout { prompts 4  group 4  temperature 1.0  max_tokens 16 }
  optimizer adamw { lr 1e-5 }
  loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }
${adv}${stage}${body}
}
`;
}

export function check(text: string, path = "test/compiler/inline.acpo", set?: string[]): LoadResult {
  return loadPipeline(path, { text, set });
}

/** 1-based line and column of the first occurrence of `needle` (optionally the n-th). */
export function at(text: string, needle: string, nth = 0): { line: number; col: number } {
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`needle not found: ${needle}`);
  }
  const before = text.slice(0, i);
  const line = before.split("\n").length;
  return { line, col: i - before.lastIndexOf("\n") };
}

/** A resolved pipeline as plain data without source positions (which printing moves) or the `extends` chain (which printing flattens). */
export function meaning(p: Pipeline): unknown {
  const { extendsChain: _, ...rest } = p;
  return JSON.parse(JSON.stringify(rest, (k, v) => (/span$/i.test(k) ? undefined : v)));
}

/** `p` printed as canonical text and loaded again at the file it came from. */
export function reprinted(p: Pipeline): LoadResult {
  return loadPipeline(p.file, { text: printPipeline(p) });
}
