// Trajectories for the report's viewer: the samples.jsonl fields it shows (spec/batch.md),
// with each token rendered as text by the run's tokenizer when the model folder the
// config names is readable, and as its id otherwise.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { extractAnswer } from "../../engine/tasks/answer.js";
import { TextTokenizer } from "../../engine/model/tokenizer.js";
import { type RunData, modelPathOf, num } from "./load.js";

export interface ViewSample {
  step: number | null;
  stage: string | null;
  group: number | null;
  reward: number | null;
  correct: boolean | null;
  tokens: number[];
  /** Text of each token, or null when no tokenizer could be loaded (the page shows ids). */
  pieces: string[] | null;
  /** Rollout entropy per token (old_entropy, else entropy). */
  entropy: (number | null)[];
  /** First token of each reasoning step; [0] when the run did not segment. */
  stepStarts: number[];
  /** Per step: attribution C, weight w and mean entropy, when recorded. */
  C: (number | null)[] | null;
  w: (number | null)[] | null;
  stepEntropy: (number | null)[] | null;
  prompt: string | null;
  text: string | null;
  /** The verifier's extracted answer (else the last <answer> of the text) and its explanation. */
  answer: string | null;
  reason: string | null;
}

export interface RunSamples {
  run: string;
  samples: ViewSample[];
  /** Why tokens are shown as ids, when they are. */
  tokenNote: string | null;
}

type Pieces = (ids: number[]) => string[];

const tokenizerCache = new Map<string, Pieces | string>();

/** Per-token text from a model folder's tokenizer.json, or the reason it is unavailable. */
export function tokenPieces(modelDir: string | null): Pieces | string {
  if (modelDir === null) return "the run's config names no model";
  const cached = tokenizerCache.get(modelDir);
  if (cached) return cached;
  let result: Pieces | string;
  const path = join(modelDir, "tokenizer.json");
  if (!existsSync(path)) result = `no tokenizer at ${path}`;
  else {
    try {
      const cfgPath = join(modelDir, "tokenizer_config.json");
      const cfg = existsSync(cfgPath) ? (JSON.parse(readFileSync(cfgPath, "utf8")) as Record<string, unknown>) : {};
      const tok = new TextTokenizer(JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>, cfg, path);
      // Per-token text through the tokenizer's decoder (byte-level "Ġ" -> " ", split UTF-8
      // characters whole); one id at a time for a decoder that is not prefix-stable.
      result = (ids) => { try { return tok.decodePieces(ids); } catch { return ids.map((id) => tok.decode([id])); } };
    } catch (e) {
      result = `cannot read ${path}: ${(e as Error).message}`;
    }
  }
  tokenizerCache.set(modelDir, result);
  return result;
}

function numbers(v: unknown): (number | null)[] | null {
  return Array.isArray(v) ? v.map(num) : null;
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

export function viewSamples(run: RunData): RunSamples {
  const pieces = run.samples.length ? tokenPieces(modelPathOf(run.config)) : "no samples";
  const samples = run.samples.map((s): ViewSample => {
    const tokens = Array.isArray(s.tokens) ? s.tokens.filter((t): t is number => typeof t === "number") : [];
    const starts = Array.isArray(s.step_starts) ? s.step_starts.filter((t): t is number => typeof t === "number") : [0];
    const text = str(s.text);
    let tokenText: string[] | null = null;
    if (typeof pieces === "function") {
      try {
        tokenText = pieces(tokens);
      } catch {
        tokenText = null; // an id outside this tokenizer's vocabulary: show ids
      }
    }
    const reward = num(s.reward);
    return {
      step: num(s.step),
      stage: str(s.stage),
      group: num(s.group),
      reward,
      correct: typeof s.correct === "boolean" ? s.correct : reward === null ? null : reward > 0,
      tokens,
      pieces: tokenText,
      entropy: numbers(s.old_entropy) ?? numbers(s.entropy) ?? tokens.map(() => null),
      stepStarts: starts.length ? starts : [0],
      C: numbers(s.C),
      w: numbers(s.w) ?? numbers(s.weight),
      stepEntropy: numbers(s.step_entropy),
      prompt: str(s.prompt),
      text,
      answer: "answer" in s ? str(s.answer) : text === null ? null : (extractAnswer(text)?.text ?? null),
      reason: str(s.reason),
    };
  });
  return { run: run.name, samples, tokenNote: typeof pieces === "string" && run.samples.length ? `tokens shown as ids: ${pieces}` : null };
}

/** An entropy that saturates the colour scale: the 95th percentile over all shown tokens. */
export function entropyScale(all: readonly RunSamples[]): number {
  const hs = all.flatMap((r) => r.samples.flatMap((s) => s.entropy.filter((h): h is number => h !== null))).sort((a, b) => a - b);
  if (hs.length === 0) return 1;
  const q = hs[Math.min(hs.length - 1, Math.floor(0.95 * hs.length))]!;
  return q > 0 ? q : 1;
}
