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
  /**
   * The content is a `\boxed{...}` group's. Then a token holding both the "{" and the
   * content's first character ("{x", "{\\" in byte-level BPE) belongs to the content, or the
   * answer would lose its first symbol; a tag's straddling token stays with the tag.
   */
  box?: true;
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

/** Which final answer a response's span marks: the `<answer>` tag, or math's `\\boxed{}` too. */
export type AnswerStyle = "tag" | "math";

const BOX_COMMANDS = ["\\boxed", "\\fbox"] as const;
/** Unclosed box commands tried from the end before giving up (keeps hostile texts linear). */
const MAX_BOX_TRIES = 8;

/**
 * The last complete `\boxed{...}` / `\fbox{...}` of `text` (braces balanced, escaped `\{`
 * `\}` not counted) or `\boxed 5` (up to the next space, "$" or newline), as offsets: start
 * at the backslash, content inside the braces, end after the closing brace. An unclosed last
 * box falls back to the one before it (at most MAX_BOX_TRIES from the end). Null without one.
 */
export function lastBoxedSpan(text: string): AnswerMatch | null {
  let { at, cmd } = lastBoxCommand(text, text.length);
  for (let tries = 0; at >= 0 && tries < MAX_BOX_TRIES; tries++) {
    const span = boxedGroupAt(text, at, at + cmd.length);
    if (span !== null) return span;
    ({ at, cmd } = lastBoxCommand(text, at - 1));
  }
  return null;
}

/** The last box command starting at or before offset `from` (at = -1 when none). */
function lastBoxCommand(text: string, from: number): { at: number; cmd: string } {
  let at = -1, cmd = "";
  if (from < 0) return { at, cmd };
  for (const c of BOX_COMMANDS) {
    const i = text.lastIndexOf(c, from);
    if (i > at) { at = i; cmd = c; }
  }
  return { at, cmd };
}

/** The group after a box command ending at offset p: "{...}" with nested braces, or " token". */
function boxedGroupAt(text: string, start: number, p: number): AnswerMatch | null {
  if (text[p] === "{") {
    const close = matchingBrace(text, p);
    return close < 0 ? null : { start, end: close + 1, contentStart: p + 1, contentEnd: close, text: text.slice(p + 1, close), box: true };
  }
  if (text[p] === " ") {
    let e = p + 1;
    while (e < text.length && text[e] !== " " && text[e] !== "$" && text[e] !== "\n") e++;
    return e > p + 1 ? { start, end: e, contentStart: p + 1, contentEnd: e, text: text.slice(p + 1, e), box: true } : null;
  }
  return null;
}

/** Offset of the "}" closing the "{" at `open` (escaped \{ \} do not count), or -1. */
export function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") { i++; continue; }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

/**
 * The span of a response's final answer, as segmentation and attribution use it.
 * "tag": the last `<answer>...</answer>` (extractAnswer). "math" (the math verifier's
 * reading): that tag when present, with its content narrowed to the last `\boxed{}` inside
 * it (start and end stay the tag's); else the last `\boxed{...}`, its content the text
 * between the braces. So attribution scores the answer itself, not "\boxed{" or "}".
 * "The answer is ..." sentences, which the math verifier also reads, mark no span.
 */
export function locateAnswer(response: string, style: AnswerStyle): AnswerMatch | null {
  const tag = extractAnswer(response);
  if (style === "tag") return tag;
  if (tag === null) return lastBoxedSpan(response);
  const inner = lastBoxedSpan(tag.text);
  if (inner === null) return tag;
  const o = tag.contentStart;
  return { start: tag.start, end: tag.end, contentStart: o + inner.contentStart, contentEnd: o + inner.contentEnd, text: inner.text, box: true };
}

/** The answer style of a task: "math" for datasets scored by the math verifier, else "tag". */
export function answerStyleOf(task: { readonly options: Readonly<Record<string, unknown>> }): AnswerStyle {
  return task.options.verifier === "math" ? "math" : "tag";
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
