// The normal form two math answers are compared in (math-equal.ts): LaTeX spacing,
// delimiters, \left/\right, \dfrac, degrees, dollar signs, thousands separators, trailing
// periods, \text{} units and trailing unit words removed. Linear in the answer's length.
import { lastBoxed, matchingBrace } from "./math-answer.js";

/** Commands that only space or size things. */
const SPACING = ["\\displaystyle", "\\textstyle", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\ ", "~"];
const FRAC_ALIASES: [string, string][] = [["\\dfrac", "\\frac"], ["\\tfrac", "\\frac"], ["\\dbinom", "\\binom"], ["\\tbinom", "\\binom"]];
const DEGREES = ["^{\\circ}", "^\\circ", "°", "\\degree", "{}^\\circ"];
const TEXT_COMMANDS = ["\\text", "\\textbf", "\\textrm", "\\textit", "\\mathrm", "\\mathbf", "\\mbox"];
/** Unit words dropped after a number ("5 cm", "12 dollars"); lower case. */
const UNITS = new Set([
  "cm", "m", "km", "mm", "in", "inch", "inches", "ft", "feet", "foot", "yd", "yard", "yards", "mi", "mile", "miles", "meter", "meters", "metre", "metres",
  "kg", "g", "gram", "grams", "lb", "lbs", "pound", "pounds", "oz", "ounce", "ounces", "l", "ml", "liter", "liters", "litre", "litres", "gallon", "gallons",
  "s", "sec", "second", "seconds", "min", "minute", "minutes", "h", "hr", "hour", "hours", "day", "days", "week", "weeks", "year", "years",
  "dollar", "dollars", "cent", "cents", "unit", "units", "degree", "degrees", "square", "sq", "cubic", "mph",
]);

const CONNECTIVES = new Set(["or", "and", "not", "no", "to", "times", "plus", "minus", "over", "less", "more", "than", "of", "per", "squared", "cubed", "percent"]);

function replaceAll(s: string, pairs: readonly (readonly [string, string])[]): string {
  for (const [a, b] of pairs) s = s.split(a).join(b);
  return s;
}

/** "$x$", "$$x$$", "\(x\)", "\[x\]" -> "x". */
function stripMathDelimiters(s: string): string {
  for (const [open, close] of [["$$", "$$"], ["$", "$"], ["\\(", "\\)"], ["\\[", "\\]"]] as const) {
    if (s.length >= open.length + close.length && s.startsWith(open) && s.endsWith(close)) return s.slice(open.length, s.length - close.length).trim();
  }
  return s;
}

/**
 * \text{...} and friends: as units after something else ("5\text{ cm}") they go; as the
 * whole answer ("\text{(B)}") their content stays.
 */
function stripTextCommands(s: string): string {
  for (let guard = 0; guard < 64; guard++) {
    let hit: { at: number; cmd: string } | null = null;
    for (const cmd of TEXT_COMMANDS) {
      const i = s.indexOf(cmd + "{");
      if (i >= 0 && (hit === null || i < hit.at)) hit = { at: i, cmd };
    }
    if (hit === null) return s;
    const open = hit.at + hit.cmd.length, close = matchingBrace(s, open);
    if (close < 0) return s;
    const inner = s.slice(open + 1, close);
    const rest = (s.slice(0, hit.at) + s.slice(close + 1)).trim();
    // A unit next to a number goes; text that is the answer (or holds its digits) stays.
    const keep = rest === "" || !/[0-9]/.test(rest) || /[0-9]/.test(inner);
    s = keep ? s.slice(0, hit.at) + inner + s.slice(close + 1) : rest;
  }
  return s;
}

/** "1,234,567.5" / "1 234" -> "1234567.5"; anything else unchanged. */
function stripThousands(s: string): string {
  return /^[+-]?\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?$/.test(s) ? s.replace(/[, ]/g, "") : s;
}

/** "5 cm", "12 square feet" -> "5", "12" when the part before the words is a number. */
function stripUnitWords(s: string): string {
  // Scan back over letters and spaces (a linear scan: a regex here could backtrack).
  let i = s.length;
  while (i > 0 && /[a-zA-Z ]/.test(s[i - 1]!)) i--;
  const head = s.slice(0, i).trimEnd(), words = s.slice(i).trim().toLowerCase().split(" ").filter((w) => w !== "");
  // Only after a number ("2 m", not "x^2 + 2s"): no letters in the head outside commands.
  if (words.length === 0 || !/[0-9}]$/.test(head) || head.endsWith("\\") || /[a-zA-Z]/.test(head.replace(/\\[a-zA-Z]+/g, ""))) return s;
  if (words.every((w) => UNITS.has(w))) return head;
  // After a plain number, any nouns ("72 clips", "5 apples"), but not words that change
  // the meaning ("5 or more", "3 times", "2 minus") nor single letters (variables).
  const plain = /^[+-]?[0-9][0-9,]*(?:\.[0-9]+)?$/.test(head);
  return plain && words.every((w) => /^[a-z]{2,}$/.test(w) && !CONNECTIVES.has(w)) ? head : s;
}

/** Longest answer normalised; a longer one is compared as written (trimmed). */
export const MAX_NORMALIZE_CHARS = 2000;

export function normalizeMath(raw: string): string {
  let s = raw.trim();
  if (s.length > MAX_NORMALIZE_CHARS) return s;
  s = stripMathDelimiters(s);
  if (s.startsWith("\\boxed") || s.startsWith("\\fbox")) s = lastBoxed(s) ?? s;
  s = s.replace(/\s+/g, " ");
  s = replaceAll(s, FRAC_ALIASES);
  s = replaceAll(s, DEGREES.map((d) => [d, ""] as const));
  s = replaceAll(s, [["\\%", "%"], ["\\$", ""], ["$", ""], ["{,}", ","], ["\\cdotp", "."]]);
  s = stripTextCommands(s);
  // Spacing commands last: "\," inside "1\,000" is a thousands separator, elsewhere nothing.
  s = replaceAll(s, SPACING.map((c) => [c, " "] as const)).replace(/\s+/g, " ").trim();
  for (let guard = 0; guard < 4; guard++) {
    const before = s;
    s = trimEndOf(s, ". ").replace(/^\+(?=\d)/, "");
    s = stripUnitWords(s);
    s = stripThousands(s);
    if (s === before) break;
  }
  return s;
}

/** Whitespace-free form for exact comparison. */
export function mathKey(s: string): string {
  return s.replace(/\s+/g, "");
}

/** `s` without trailing characters from `chars` (linear, unlike /[. ]+$/ on a long run). */
function trimEndOf(s: string, chars: string): string {
  let e = s.length;
  while (e > 0 && chars.includes(s[e - 1]!)) e--;
  return s.slice(0, e);
}
