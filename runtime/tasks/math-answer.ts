// The final answer of a math response, and the normal form answers are compared in.
// Extraction order: the last complete <answer>...</answer> (the project's convention; a
// \boxed{} inside it wins), else the last \boxed{...} / \fbox{...} (nested braces), else the
// last "the answer is ..." sentence. Every step is linear in the text; no regex here can
// backtrack (hostile responses are long, not clever).
import { extractAnswer } from "./answer.js";

export interface MathAnswer {
  text: string;
  /** Where it was found, for the verdict's reason. */
  how: "answer tag" | "boxed" | "answer is";
}

/** The final answer of `response`, or null when it states none. */
export function extractMathAnswer(response: string): MathAnswer | null {
  const tag = extractAnswer(response);
  if (tag !== null) {
    const boxed = lastBoxed(tag.text);
    return { text: boxed ?? tag.text, how: "answer tag" };
  }
  const boxed = lastBoxed(response);
  if (boxed !== null) return { text: boxed, how: "boxed" };
  const said = answerIsSentence(response);
  return said === null ? null : { text: said, how: "answer is" };
}

const BOX_COMMANDS = ["\\boxed", "\\fbox"];
const MAX_BOX_TRIES = 8;

/** Content of the last complete \boxed{...} (braces balanced) or "\boxed 5", else null. */
export function lastBoxed(text: string): string | null {
  let at = -1, cmd = "";
  for (const c of BOX_COMMANDS) {
    const i = text.lastIndexOf(c);
    if (i > at) { at = i; cmd = c; }
  }
  // At most MAX_BOX_TRIES candidates from the end: each try scans to the end of the text,
  // and "\\boxed{" repeated without closing braces must stay linear.
  for (let tries = 0; at >= 0 && tries < MAX_BOX_TRIES; tries++) {
    const content = boxedAt(text, at + cmd.length);
    if (content !== null) return content;
    // An unclosed last \boxed{: try the one before it.
    let prev = -1;
    for (const c of BOX_COMMANDS) {
      const i = text.lastIndexOf(c, at - 1);
      if (i > prev) { prev = i; cmd = c; }
    }
    at = prev;
  }
  return null;
}

/** The group after a box command at offset p: "{...}" with nested braces, or " token". */
function boxedAt(text: string, p: number): string | null {
  if (text[p] === "{") {
    const end = matchingBrace(text, p);
    return end < 0 ? null : text.slice(p + 1, end);
  }
  if (text[p] === " ") {
    // "\boxed 5": up to the next space, "$" or end.
    let e = p + 1;
    while (e < text.length && text[e] !== " " && text[e] !== "$" && text[e] !== "\n") e++;
    return e > p + 1 ? text.slice(p + 1, e) : null;
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
 * "The answer is 5.", "the final answer is $\frac{1}{2}$. I hope it is correct." (the
 * Minerva format): what follows the last "answer is" up to the end of its line or sentence
 * (a "." followed by a space or the end; "3.5" keeps its point), with $ delimiters removed.
 */
function answerIsSentence(response: string): string | null {
  const lower = response.toLowerCase();
  const key = "answer is";
  const at = lower.lastIndexOf(key);
  if (at < 0) return null;
  let s = at + key.length;
  if (response[s] === ":") s++;
  let e = s, dollars = 0;
  for (; e < response.length; e++) {
    const c = response[e];
    if (c === "$") dollars++;
    if (c === "\n") break;
    // A sentence end outside $...$: "." then a space or the end.
    if (c === "." && dollars % 2 === 0 && (e + 1 === response.length || response[e + 1] === " ")) break;
  }
  const text = response.slice(s, e).trim();
  return text === "" ? null : text;
}
