// Finding the final answer in a response, and the transition words traces use.
// Shared by every verifier and by step segmentation (which needs the answer's span).
import { Rng } from "./rng.js";

export const ANSWER_OPEN = "<answer>";
export const ANSWER_CLOSE = "</answer>";

/** Character offsets of an answer inside a response; `text` is the content between the tags. */
export interface AnswerMatch {
  /** Offset of the '<' of `<answer>`. */
  start: number;
  /** Offset just after the '>' of `</answer>`. */
  end: number;
  contentStart: number;
  contentEnd: number;
  /** The raw content (not trimmed). */
  text: string;
}

/**
 * The LAST complete `<answer>...</answer>` of `response` (the RLVR convention: a model may
 * think out loud with earlier tags; only its final answer counts). "Last" means: the last
 * `</answer>`, paired with the nearest `<answer>` before it. Tags are case-sensitive. An
 * unclosed trailing `<answer>` is ignored. Null when there is no complete pair.
 */
export function extractAnswer(response: string): AnswerMatch | null {
  const close = response.lastIndexOf(ANSWER_CLOSE);
  if (close < 0) return null;
  const open = response.lastIndexOf(ANSWER_OPEN, close - ANSWER_OPEN.length);
  if (open < 0 || open + ANSWER_OPEN.length > close) return null;
  const contentStart = open + ANSWER_OPEN.length;
  return { start: open, end: close + ANSWER_CLOSE.length, contentStart, contentEnd: close, text: response.slice(contentStart, close) };
}

// ASCII only: unicode digits (Arabic-Indic, fullwidth, ...) are not numbers here, so a
// verifier cannot be satisfied by look-alike characters.
const DECIMAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/** A plain decimal number (optional sign, fraction, exponent; ASCII digits), or null. */
export function parseDecimal(s: string): number | null {
  const t = s.trim();
  if (!DECIMAL.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/** The transition words traces begin their steps with; segmentation's default marker list. */
export const TRACE_MARKERS = ["First", "Then", "Next", "Finally", "So", "Thus"] as const;

/**
 * Step markers for a trace of `steps` computation steps followed by the conclusion:
 * "First" opens, middle steps are "Then"/"Next", the last computation may be "Finally",
 * the conclusion is "So"/"Thus". Varied by `rng` so a policy learns the family, not one string.
 */
export function traceMarkers(steps: number, rng: Rng): { steps: string[]; conclusion: string } {
  const out: string[] = [];
  for (let i = 0; i < steps; i++) {
    if (i === 0) out.push("First");
    else if (i === steps - 1) out.push(rng.pick(["Then", "Next", "Finally"]));
    else out.push(rng.pick(["Then", "Next"]));
  }
  return { steps: out, conclusion: rng.pick(["So", "Thus"]) };
}

/** "First, a. Then, b. So, <answer>x</answer>" from step bodies and the answer text. */
export function formatTrace(bodies: string[], answer: string, rng: Rng): string {
  const m = traceMarkers(bodies.length, rng);
  const parts = bodies.map((b, i) => `${m.steps[i]}, ${b}.`);
  parts.push(`${m.conclusion}, ${ANSWER_OPEN}${answer}${ANSWER_CLOSE}`);
  return parts.join(" ");
}
