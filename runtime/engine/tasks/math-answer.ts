// The final answer of a math response, and the normal form answers are compared in.
// Extraction order: the last complete <answer>...</answer> (the project's convention; a
// \boxed{} inside it wins), else the last \boxed{...} / \fbox{...} (nested braces), else the
// last "the answer is ..." sentence. Every step is linear in the text; no regex here can
// backtrack (hostile responses are long, not clever).
import { extractAnswer, lastBoxedSpan, matchingBrace } from "./answer.js";

export { matchingBrace };

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

/** Content of the last complete \boxed{...} (braces balanced) or "\boxed 5", else null (answer.ts: lastBoxedSpan). */
export function lastBoxed(text: string): string | null {
  return lastBoxedSpan(text)?.text ?? null;
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
