// Verifiers shared by the built-in tasks and user datasets. Each reads the LAST
// `<answer>...</answer>` of a response and never throws, whatever the text.
import { extractAnswer, parseDecimal } from "./answer.js";
import { exprValue, parseEquation } from "./expr.js";
import { extractMathAnswer, lastBoxed } from "./math-answer.js";
import { mathEqual } from "./math-equal.js";
import type { Verdict } from "./types.js";

/** TinyZero / Countdown convention: |value - target| < 1e-5 counts as equal. */
export const COUNTDOWN_TOLERANCE = 1e-5;

/**
 * `formatReward` is paid when a response has a complete answer tag pair but the answer is
 * wrong (the convention's "format score"); a response without one gets 0. Correct gets 1.
 */
function wrong(answer: string | null, reason: string, formatReward: number): Verdict {
  return { reward: answer === null ? 0 : formatReward, correct: false, answer, reason };
}

const NO_ANSWER = "no complete <answer>...</answer> in the response";

function sortedKey(xs: readonly number[]): string {
  return `[${[...xs].sort((a, b) => a - b).join(", ")}]`;
}

/**
 * Countdown: the answer must be an equation over digits, + - * / ( ) and whitespace that
 * uses exactly the given multiset of numbers (each once, none extra, none missing) and
 * evaluates to within 1e-5 of the target. Division by zero is wrong.
 */
export function verifyCountdown(numbers: readonly number[], target: number, response: string, formatReward = 0): Verdict {
  const m = extractAnswer(response);
  if (m === null) return wrong(null, NO_ANSWER, formatReward);
  const answer = m.text.trim();
  if (answer === "") return wrong(answer, "empty answer", formatReward);
  const parsed = parseEquation(answer);
  if (!parsed.ok) return wrong(answer, `not an equation: ${parsed.reason}`, formatReward);
  const used = sortedKey(parsed.numbers);
  const given = sortedKey(numbers);
  if (used !== given) return wrong(answer, `uses numbers ${used}, must use exactly ${given}`, formatReward);
  const v = exprValue(parsed.expr);
  if (!v.ok) return wrong(answer, v.reason, formatReward);
  if (!(Math.abs(v.value - target) < COUNTDOWN_TOLERANCE)) return wrong(answer, `equals ${v.value}, target ${target}`, formatReward);
  return { reward: 1, correct: true, answer, reason: "correct" };
}

/**
 * Numeric: the answer is a plain decimal number (ASCII digits, optional sign, fraction,
 * exponent) with |value - expected| <= tolerance. Tolerance 0 demands exact equality.
 */
export function verifyNumeric(expected: number, response: string, tolerance: number, formatReward = 0): Verdict {
  const m = extractAnswer(response);
  if (m === null) return wrong(null, NO_ANSWER, formatReward);
  const answer = m.text.trim();
  const v = parseDecimal(answer);
  if (v === null) return wrong(answer, answer === "" ? "empty answer" : "not a number", formatReward);
  if (!(Math.abs(v - expected) <= tolerance)) return wrong(answer, `got ${v}, expected ${expected}`, formatReward);
  return { reward: 1, correct: true, answer, reason: "correct" };
}

/** Exact: the trimmed answer equals the trimmed expected string, character for character. */
export function verifyExact(expected: string, response: string, formatReward = 0): Verdict {
  const m = extractAnswer(response);
  if (m === null) return wrong(null, NO_ANSWER, formatReward);
  const answer = m.text.trim();
  if (answer !== expected.trim()) return wrong(answer, `got ${JSON.stringify(answer)}, expected ${JSON.stringify(expected.trim())}`, formatReward);
  return { reward: 1, correct: true, answer, reason: "correct" };
}

/**
 * The reference answer of a dataset record: the last \boxed{} of a worked solution (MATH's
 * "solution"), the part after the last "####" (GSM8K's "answer"), else the text itself.
 */
export function referenceAnswer(expected: string): string {
  const hashes = expected.lastIndexOf("####");
  if (hashes >= 0) return expected.slice(hashes + 4).trim();
  return lastBoxed(expected) ?? expected.trim();
}

/**
 * Math: the response's final answer (math-answer.ts: <answer>, \boxed{}, "the answer is")
 * equals the reference by normalised string, structure or value (math-equal.ts).
 */
export function verifyMath(expected: string, response: string, formatReward = 0): Verdict {
  const found = extractMathAnswer(response);
  if (found === null) return wrong(null, "no final answer (<answer>...</answer>, \\boxed{...} or 'the answer is ...')", formatReward);
  const answer = found.text.trim();
  if (answer === "") return wrong(answer, "empty answer", formatReward);
  const reference = referenceAnswer(expected);
  if (!mathEqual(reference, answer)) return wrong(answer, `got ${JSON.stringify(answer)} (${found.how}), expected ${JSON.stringify(reference)}`, formatReward);
  return { reward: 1, correct: true, answer, reason: "correct" };
}
