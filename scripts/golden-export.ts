// Golden vectors for the Python twins in an exported verl package (export/verl/python/:
// segment.py, attribution.py, verifiers.py): the TypeScript implementations' outputs on
// many seeded random and hand-picked edge cases (tokens that are markers, empty steps and
// responses, no answer, hostile answers), written as JSON under test/export/fixtures/golden/.
// test/export/golden-parity.test.ts regenerates them in memory (they must be current) and
// requires the Python twins to agree exactly (floats to 1e-12).
//
//   npx tsx scripts/golden-export.ts        # rewrite the fixtures after a deliberate change
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Policy } from "../runtime/engine/model/policy.js";
import { attributeStepsExplicit, type AttributionInput } from "../runtime/loop/rl/attribution.js";
import { DEFAULT_MARKERS, entropyThreshold, segmentResponse, type SegmentRules, type Segmentation } from "../runtime/loop/rl/segment.js";
import { extractAnswer, parseDecimal } from "../runtime/engine/tasks/answer.js";
import { exprValue, parseEquation } from "../runtime/engine/tasks/expr.js";
import { Rng } from "../runtime/engine/tasks/rng.js";
import { mathEqual } from "../runtime/engine/tasks/math-equal.js";
import { verifyCountdown, verifyExact, verifyMath, verifyNumeric } from "../runtime/engine/tasks/verifiers.js";

export const GOLDEN_DIR = fileURLToPath(new URL("../test/export/fixtures/golden/", import.meta.url));

/** JSON has no NaN or infinities: they travel as strings (as in test/export/torch.ts). */
export type Wire = number | "nan" | "inf" | "-inf";
const wire = (v: number): Wire => (Number.isFinite(v) ? v : Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");

/** An error's message, or the value: each case records what the TypeScript does. */
function outcome<T>(f: () => T): { value: T } | { error: string } {
  try {
    return { value: f() };
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return { error: e.message };
  }
}

// ---- text: fragments traces and hostile policies produce ----

const FRAGMENTS = [
  "First", "Then", "then", "THEN", "Next", "So", "Thus", "Finally", "Therefore", "However", "Wait", "Now", "Second", "Hence", "Alternatively",
  "Some", "thence", "Sox", "compute", "7*3=21", "21+4=25", "5.25", "=21.", "x", "ab_c", "42", "é", "Σ", "ΑΣ", "😀", "𝐀", "٣", "中文",
  ", ", ". ", "! ", "? ", ".", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\u2028", "\ufeff", " - ",
  "<answer>", "</answer>", "<answer>7*3+4</answer>", "<answer></answer>", "<answer>", "<ans", "wer>", "</ans", "<Answer>",
];

function randomText(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick(FRAGMENTS);
  return s;
}

/** Cut text into token pieces: characters, words, or random chunks (which may split a surrogate pair or a tag); some empty. */
function tokenize(rng: Rng, text: string): string[] {
  const mode = rng.int(0, 2);
  const out: string[] = [];
  if (mode === 1) {
    for (const m of text.matchAll(/\s*\S+|\s+/g)) out.push(m[0]);
  } else {
    for (let i = 0; i < text.length; ) {
      const k = mode === 0 ? 1 : rng.int(1, 4);
      out.push(text.slice(i, i + k));
      i += k;
    }
  }
  if (rng.next() < 0.3 && out.length > 0) out.splice(rng.int(0, out.length), 0, "");
  return out;
}

/** Entropies with ties (quantised), NaN and infinities now and then. */
export function entropiesFor(rng: Rng, T: number): number[] {
  const q = rng.next() < 0.5;
  return Array.from({ length: T }, () => {
    const u = rng.next();
    if (u < 0.03) return NaN;
    if (u < 0.04) return Infinity;
    const h = rng.next() * 3;
    return q ? Math.round(h * 4) / 4 : h;
  });
}

function randomRules(rng: Rng): SegmentRules {
  const answerBoundary = rng.next() < 0.8;
  const kind = rng.int(0, 9);
  if (kind <= 5) {
    const markers = rng.pick<readonly string[]>([DEFAULT_MARKERS, [], ["Wait", " so ", "then"], ["7*3", "Σ"], ["First", "Then", "Next", "So", "Thus"]]);
    const candidates = rng.next() < 0.7 ? { by: "top" as const, fraction: rng.pick([0, 0.05, 0.2, 0.5, 1]) } : { by: "threshold" as const, value: rng.pick([0, 1, 2.5, Infinity]) };
    const r: SegmentRules = { kind: "entropy", candidates, markers: [...markers], minGap: rng.pick([1, 2, 3, 6]), align: rng.pick(["sentence", "word", "none"] as const), answerBoundary };
    if (rng.next() < 0.2) r.absolute = rng.pick([1.5, 2.9]);
    return r;
  }
  if (kind <= 7) return { kind: "newline", minGap: rng.pick([1, 2, 4]), answerBoundary };
  if (kind === 8) return { kind: "fixed", length: rng.pick([1, 3, 7]), answerBoundary };
  return { kind: "none", answerBoundary };
}

interface SegmentCase {
  name: string;
  pieces: string[];
  entropies: Wire[] | null;
  rules: SegmentRules;
  expect: { value: Segmentation } | { error: string };
}

function segmentCase(name: string, pieces: string[], entropies: number[] | null, rules: SegmentRules): SegmentCase {
  const r = JSON.parse(JSON.stringify(rules, (_k, v) => (typeof v === "number" ? wire(v) : v))) as SegmentRules;
  return { name, pieces, entropies: entropies ? entropies.map(wire) : null, rules: r, expect: outcome(() => segmentResponse(pieces, entropies, rules)) };
}

/** One piece per code point (a character-level tokenizer). */
const chars = (s: string): string[] => [...s];

function segmentCases(): { cases: SegmentCase[]; thresholds: { entropies: Wire[][]; fraction: number; expect: { value: Wire } | { error: string } }[] } {
  const top = (fraction: number, align: "sentence" | "word" | "none" = "sentence", markers: readonly string[] = DEFAULT_MARKERS): Extract<SegmentRules, { kind: "entropy" }> => ({ kind: "entropy", candidates: { by: "top", fraction }, markers: [...markers], minGap: 1, align });
  const trace = "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>";
  const cases: SegmentCase[] = [
    segmentCase("empty response", [], [], top(0.5)),
    segmentCase("empty response, newline", [], null, { kind: "newline", minGap: 1 }),
    segmentCase("only empty pieces", ["", "", ""], [1, 2, 3], top(1)),
    segmentCase("no answer, every token a marker", ["Then", " So", " Thus", " Next"], [3, 2, 1, 0], top(1, "word")),
    segmentCase("marker tokens, hot answer digits ignored", chars(trace), chars(trace).map((c, i) => (c === "T" || c === "S" ? 2 : i > 40 ? 9 : 0.1)), top(0.05)),
    segmentCase("answer only", ["<answer>", "42", "</answer>"], [1, 1, 1], top(1)),
    segmentCase("empty answer content", ["So", " ", "<answer>", "</answer>"], [2, 1, 1, 1], top(1, "word")),
    segmentCase("unclosed answer", ["First", " x", " <answer>", "4"], [2, 2, 2, 2], top(1)),
    segmentCase("two answers, the last counts", ["<answer>", "1", "</answer>", " Then", " <answer>", "2", "</answer>"], [0, 0, 0, 5, 0, 0, 0], top(1, "none")),
    segmentCase("tag split across tokens", ["Then", " x", "<ans", "wer>", "4", "</ans", "wer>", "<eos>"], [3, 0, 0, 0, 0, 0, 0, 0], top(1)),
    segmentCase("mid-sentence marker cuts at the sentence", chars("7*3=21, then 21+4=25"), chars("7*3=21, then 21+4=25").map((c) => (c === "h" ? 3 : 0)), top(0.2)),
    segmentCase("no markers: word start", chars("ab cd ef"), [0, 5, 0, 0, 5, 0, 0, 5], top(1, "word", [])),
    segmentCase("NaN and ties", ["So", " So", " So", " So"], [NaN, 1, 1, NaN], top(0.5, "none")),
    segmentCase("answer not a boundary", chars("Then x <answer>1</answer>"), chars("Then x <answer>1</answer>").map(() => 1), { ...top(1, "word"), answerBoundary: false }),
    segmentCase("min gap before the answer", ["First", " a", " Then", " b", "<answer>", "1", "</answer>"], [5, 0, 5, 0, 0, 0, 0], { ...top(1), minGap: 3 }),
    segmentCase("newline cuts", ["a", "\n", "b", "\n\n", " c", "d\n", "e"], null, { kind: "newline", minGap: 1 }),
    segmentCase("fixed over the reasoning", chars("abcdefg<answer>1</answer>"), null, { kind: "fixed", length: 2 }),
    segmentCase("bad minGap", ["a"], [1], { ...top(1), minGap: 0 }),
    segmentCase("bad fraction", ["a"], [1], top(1.5)),
    segmentCase("entropies missing", ["a", "b"], [1], top(1)),
    segmentCase("empty marker", ["a"], [1], top(1, "word", ["  "])),
    segmentCase("bad fixed length", ["a"], null, { kind: "fixed", length: 2.5 }),
  ];
  const rng = new Rng(16);
  for (let i = 0; i < 400; i++) {
    const pieces = tokenize(rng, randomText(rng, rng.int(0, 30)));
    const rules = randomRules(rng);
    cases.push(segmentCase(`random ${i}`, pieces, rules.kind === "entropy" || rng.next() < 0.5 ? entropiesFor(rng, pieces.length) : null, rules));
  }
  const thresholds = [];
  for (let i = 0; i < 40; i++) {
    const es = Array.from({ length: rng.int(0, 4) }, () => entropiesFor(rng, rng.int(0, 12)));
    const fraction = i === 0 ? 1.5 : rng.pick([0, 0.05, 0.2, 0.5, 1]);
    thresholds.push({ entropies: es.map((e) => e.map(wire)), fraction, expect: ((o) => ("value" in o ? { value: wire(o.value) } : o))(outcome(() => entropyThreshold(es, fraction))) });
  }
  return { cases, thresholds };
}

// ---- verifiers ----

const HOSTILE_ANSWERS = [
  "", "   ", "7*3+4", " 7 * 3 + 4 ", "(7*3)+4", "7*(3+4)", "4+3*7", "7*3+4+1", "7*3", "5/(3-3)", "0*(1-2)", "((((7))))*3+4",
  "(".repeat(65) + "1" + ")".repeat(65), "(".repeat(64) + "7" + ")".repeat(64) + "*3+4", "07*3+4", "1234567890123456", "999999999999999*999999999999999*999999999999999",
  "7**3+4", "7//3", "-7+3+4", "7.0*3+4", "7 x 3 + 4", "7*3+4=25", "٣+4+7", "７*3+4", "😀", "\u0001", "\"7\"", "a\\b", "\ud800", "7*3+",
  "(7*3", "7*3)", "eval('1')", "1e999", "0x10", "1_000", "25", " 25 ", "+25", "25.", ".5", "+.5e-3", "2.5e1", "1e-7", "25\n", "\u00a025\u2028",
  "NaN", "Infinity", "-0", "\ufeff25\ufeff", "0.30000000000000004", "12345678901234567890", "1e21",
];

function responseWith(rng: Rng, answer: string): string {
  const wrap = rng.int(0, 9);
  const pre = rng.pick(["", "First, 7*3=21. So, ", "<answer>1</answer> Then, ", "</answer> ", "<answer>"]);
  if (wrap === 0) return `${pre}${answer}`; // no tags
  if (wrap === 1) return `${pre}<answer>${answer}`; // unclosed
  if (wrap === 2) return `${pre}<answer>${answer}</answer><answer>`; // trailing unclosed
  if (wrap === 3) return `${pre}<Answer>${answer}</answer>`;
  return `${pre}<answer>${answer}</answer>${rng.pick(["", "<eos>", " trailing", "\n"])}`;
}

function randomEquation(rng: Rng, nums: number[]): string {
  const ns = rng.shuffled(nums);
  if (rng.next() < 0.2) ns.pop();
  if (rng.next() < 0.1) ns.push(rng.int(1, 9));
  let s = String(ns[0] ?? "");
  for (const n of ns.slice(1)) {
    const op = rng.pick(["+", "-", "*", "/"]);
    s = rng.next() < 0.3 ? `(${s})${op}${n}` : `${s}${op}${n}`;
  }
  return s;
}

function valueOf(eq: string): number | null {
  const p = parseEquation(eq);
  if (!p.ok) return null;
  const v = exprValue(p.expr);
  return v.ok && Number.isFinite(v.value) ? v.value : null;
}

function verifierCases() {
  const rng = new Rng(1616);
  const texts = [...HOSTILE_ANSWERS.map((a) => `So, <answer>${a}</answer>`), "", "no tags at all", "</answer><answer>", "<answer></answer>", "<answer><answer>1</answer>", "<answer>1</answer></answer>", "x<answer>", "</answer>"];
  for (let i = 0; i < 150; i++) texts.push(responseWith(rng, rng.pick(HOSTILE_ANSWERS)));
  const extract = texts.map((response) => ({ response, expect: extractAnswer(response) }));
  const decimals = HOSTILE_ANSWERS.map((s) => ({ text: s, expect: parseDecimal(s) }));
  const countdown = [];
  countdown.push({ numbers: [7, 3, 4], target: 25, formatReward: 0.1, response: "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>" });
  countdown.push({ numbers: [0, 1, 2], target: 0, formatReward: 0, response: "<answer>0*(1-2)</answer>" });
  countdown.push({ numbers: [5, 3, 3], target: 1, formatReward: 0.1, response: "<answer>5/(3-3)</answer>" });
  for (const a of HOSTILE_ANSWERS) countdown.push({ numbers: [7, 3, 4], target: 25, formatReward: 0.1, response: `So, <answer>${a}</answer>` });
  for (let i = 0; i < 250; i++) {
    const numbers = Array.from({ length: rng.int(2, 5) }, () => rng.int(1, rng.pick([9, 100, 10000])));
    const eq = randomEquation(rng, numbers);
    // Half the targets are the equation's own value, so correct answers are common.
    const target = rng.next() < 0.5 ? rng.int(1, 60) : valueOf(eq) ?? 7;
    countdown.push({ numbers, target, formatReward: rng.pick([0, 0.1]), response: responseWith(rng, rng.next() < 0.8 ? eq : rng.pick(HOSTILE_ANSWERS)) });
  }
  const numeric = [];
  for (const a of HOSTILE_ANSWERS) numeric.push({ expected: 25, tolerance: 1e-6, formatReward: 0.1, response: `<answer>${a}</answer>` });
  for (let i = 0; i < 200; i++) {
    const expected = rng.pick([25, 0, 0.5, 1e-7, 1e21, -3, rng.int(0, 99)]);
    const answer = rng.next() < 0.5 ? String(expected + rng.pick([0, 0, 1e-7, 1e-5, 1])) : rng.pick(HOSTILE_ANSWERS);
    numeric.push({ expected, tolerance: rng.pick([0, 1e-6, 0.5]), formatReward: rng.pick([0, 0.1]), response: responseWith(rng, answer) });
  }
  const exact = [];
  for (let i = 0; i < 120; i++) {
    const expected = rng.pick(["Paris", " Paris ", "é", "😀", "a\\b", "\"q\"", "", "\u0001", "25"]);
    const answer = rng.next() < 0.4 ? expected : rng.pick([...HOSTILE_ANSWERS, "Paris", "paris", "\ud83d"]);
    exact.push({ expected, formatReward: rng.pick([0, 0.1]), response: responseWith(rng, answer) });
  }
  return {
    extract,
    decimals,
    countdown: countdown.map((c) => ({ ...c, expect: verifyCountdown(c.numbers, c.target, c.response, c.formatReward) })),
    numeric: numeric.map((c) => ({ ...c, expect: verifyNumeric(c.expected, c.response, c.tolerance, c.formatReward) })),
    exact: exact.map((c) => ({ ...c, expect: verifyExact(c.expected, c.response, c.formatReward) })),
  };
}

// ---- math answers (runtime/engine/tasks/math-*.ts; export/verl/python/math_verify.py) ----

/** Answers in the forms MATH / GSM8K responses state them, in groups that are equal in value. */
export const MATH_FORMS: string[][] = [
  ["\\frac{1}{2}", "0.5", "1/2", "\\frac12", "\\dfrac{1}{2}", "$\\frac{1}{2}$", "\\tfrac{1}{2}", "50\\%", ".5"],
  ["\\frac{3}{4}", "0.75", "3/4", "75%", "\\left(\\frac{3}{4}\\right)"],
  ["2\\sqrt{2}", "\\sqrt{8}", "2.8284271247461903", "2 \\sqrt 2", "\\sqrt{2}\\cdot 2"],
  ["\\pi", "3.141592653589793", "\\frac{2\\pi}{2}"],
  ["\\frac{\\pi}{2}", "\\pi/2", "0.5\\pi", "\\frac{1}{2}\\pi"],
  ["(x+1)^2", "x^2+2x+1", "x^2 + 2x + 1", "1+2x+x^2", "(1+x)(x+1)"],
  ["-\\frac{1}{3}", "-1/3", "\\frac{-1}{3}", "-0.3333333333333333"],
  ["\\sqrt[3]{-8}", "-2", "-2.0", "(-2)"],
  ["2^{10}", "1024", "1,024", "1 024", "2^{5}\\cdot 2^5", "4^5"],
  ["5!", "120", "120.0", "\\frac{240}{2}"],
  ["\\sin(\\pi/6)", "0.5000000000000001"],
  ["|-3|", "3", "3 cm", "3 \\text{ cm}", "3^\\circ", "3^{\\circ}", "\\$3", "3 apples", "+3", "3."],
  ["\\frac{x}{2}", "0.5x", "x/2", "\\frac{1}{2}x", "\\frac12 x"],
  ["(1,2)", "(1, 2)", "\\left(1,2\\right)", "(\\frac{2}{2}, 2)"],
  ["(2,1)"],
  ["[0,1)", "[0, 1)"],
  ["(0,1)"],
  ["\\{1,2,3\\}", "\\{3,2,1\\}", "1, 2, 3", "3,1,2"],
  ["x=5", "5", "x = 5", "5.0"],
  ["1234567", "1,234,567", "1234567.0"],
  ["\\text{(B)}", "(B)", "\\textbf{(B)}"],
  ["(-\\infty, 2]", "(-\\infty,2]"],
  ["(-\\infty, 3]"],
  ["2x", "x+x", "x\\cdot 2", "2\\times x"],
  ["x^2", "x\\cdot x"],
  ["\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2", "0.8660254037844386", "\\cos(\\pi/6)"],
  ["e^2", "7.38905609893065"],
  ["\\log_2 8", "3"],
  ["\\ln(e^3)", "3.0000"],
  ["\\frac{1}{0}", "\\infty"],
  ["10^{400}", "10^{401}"],
  ["x^23", "3x^2", "x^{23}"],
  ["2\\pi r", "2r\\pi"],
  ["\\theta", "\\theta + 0"],
  ["\\lfloor 2.5 \\rfloor", "2", "\\lceil 1.5 \\rceil"],
  ["\\sqrt{x^2}", "|x|"],
  ["y_1 + y_2", "y_2 + y_1"],
  ["1 \\pm 2", "3"],
  ["a\\b", "ab"],
  ["12 dollars", "12", "\\$12.00", "12.00"],
  ["\\text{five}", "five", "5"],
  ["3 or more", "3"],
  ["", " ", "NaN"],
];

/** Tricky forms for mathEqual alone: operator precedence, functions, factorials, roots, subscripts. */
const MATH_PROBES = ["\\sin 2x", "2\\sin x\\cos x", "\\sin x^2", "\\sin(x^2)", "(\\sin x)^2", "2^3^2", "2^{3^2}", "512", "64", "-2^2", "-4", "4", "a/bc", "\\frac{a}{bc}", "\\frac{ac}{b}",
  "1/2x", "\\frac{x}{2}", "\\frac{1}{2x}", "x!", "3!!", "720", "\\sqrt{-1}", "i", "i^2", "-1", "\\log 100", "2", "\\ln 100", "\\log(100)", "10^{-3}", "0.001", "1e-3", "\\frac{1}{1000}",
  "e", "2.718281828459045", "\\exp(1)", "\\exp 1", "\\infty", "-\\infty", "x^{-1}", "\\frac{1}{x}", "xy", "yx", "x y", "\\alpha+\\beta", "\\beta+\\alpha", "\\frac{\\alpha}{2}", "0.5\\alpha", "\\sqrt{4}", "\\sqrt 4",
  "\\cot(\\pi/4)", "1", "\\sec 0", "\\arctan 1", "\\frac{\\pi}{4}", "|x-1|", "|1-x|", "\\lfloor x \\rfloor", "\\lceil x \\rceil", "3.0e2", "300", "\\pi r^2", "r^2\\pi", "2\\cdot3", "6", "6\\div 2", "3",
  "\\frac{1}{3}+\\frac{1}{6}", "0.5", "x'", "f(x)", "f(2)", "\\tan^2 x", "\\sinh 0", "0", "\\cosh 0", "0!", "(-8)^{1/3}", "-2", "\\sqrt[3]{8}", "\\sqrt[4]{16}",
  "1.5", "\\frac{3}{2}", "3 / 2", "1\\frac{1}{2}", "x_1", "x_{1}", "a^b", "b^a", "0.1+0.2", "0.3"];

/**
 * Where the Python twin (math_verify.py: its own LaTeX reader) and acpo (compute-engine)
 * judge differently, with why; spec/export.md repeats the list. The parity test requires
 * the twin to give the opposite of the recorded TypeScript verdict on each, and agreement
 * everywhere else.
 */
export const MATH_DIFFERENCES: { a: string; b: string; why: string }[] = [
  { a: "(-8)^{1/3}", b: "-2", why: "compute-engine takes a negative base to a power 1/odd as the real root; the twin, like Math.pow, gives no value" },
];

function mathPairs() {
  const rng = new Rng(1619);
  const differs = (a: string, b: string) => MATH_DIFFERENCES.some((d) => (d.a === a && d.b === b) || (d.a === b && d.b === a));
  const pairs = [];
  for (let i = 0; i < 1500; i++) {
    const a = rng.pick(MATH_PROBES), b = rng.next() < 0.5 ? rng.pick(MATH_PROBES) : rng.pick(MATH_FORMS.flat());
    if (!differs(a, b)) pairs.push({ a, b, expect: mathEqual(a, b) });
  }
  const differences = MATH_DIFFERENCES.flatMap((d) => [{ ...d, ts: mathEqual(d.a, d.b) }, { ...d, a: d.b, b: d.a, ts: mathEqual(d.b, d.a) }]);
  return { pairs, differences };
}

function mathCases() {
  const rng = new Rng(1618);
  const all = MATH_FORMS.flat();
  const wrapAnswer = (a: string): string => rng.pick([
    `<answer>${a}</answer>`, `So the result is \\boxed{${a}}.`, `The answer is ${a}.`, `The final answer is $${a}$. I hope it is correct.`,
    `<answer>The value is \\boxed{${a}}</answer>`, `\\fbox{${a}} then \\boxed{${a}`, `First, ... Then ${a}`, `\\boxed ${a}`,
  ]);
  const cases = [];
  // Every pair within a group (equal) and each form against a form of the next group (mostly unequal).
  MATH_FORMS.forEach((g, k) => {
    for (const a of g) for (const b of g) cases.push({ expected: a, answer: b });
    for (const a of g) cases.push({ expected: a, answer: rng.pick(MATH_FORMS[(k + 1) % MATH_FORMS.length]!) });
  });
  for (let i = 0; i < 200; i++) cases.push({ expected: rng.pick(all), answer: rng.pick([...all, ...HOSTILE_ANSWERS]) });
  const references = (e: string) => rng.pick([e, `Worked solution ... so \\boxed{${e}}.`, `Natalia sold 48 clips.\n#### ${e}`]);
  return cases.map(({ expected, answer }) => {
    const c = { expected: references(expected), response: wrapAnswer(answer), formatReward: rng.pick([0, 0.1]) };
    return { ...c, expect: verifyMath(c.expected, c.response, c.formatReward) };
  });
}

// ---- attribution batches ----

/** A toy vocabulary: token ids to decoded pieces (markers, tags split and whole, digits). */
export const VOCAB = ["First", ",", " ", "Then", "7", "*", "3", "=", "21", ".", " So", "<answer>", "</answer>", "<ans", "wer>", "\n", " Thus", "x", "+", "4", "<eos>", "</ans"];

/**
 * A deterministic judge: log p(next | everything before) = table[h][next], h a rolling hash
 * of the whole context (h = (31 h + id) mod 997, row h mod V). It depends on the prefix, as
 * a language model does, so C is not 0; the golden L and C follow from the scored
 * sequences alone. golden_runner.py computes the same rows.
 */
export function hashJudge(table: number[][], seen: number[][]): Policy {
  const judge = {
    score: async (seqs: number[][]) => {
      seen.push(...seqs.map((s) => [...s]));
      return { logprobs: seqs.map((s) => judgeRow(table, s)), entropies: [] };
    },
  };
  return judge as unknown as Policy;
}

export function judgeRow(table: number[][], seq: readonly number[]): number[] {
  const out: number[] = [];
  let h = 0;
  for (let i = 0; i + 1 < seq.length; i++) {
    h = (31 * h + seq[i]!) % 997;
    out.push(table[h % table.length]![seq[i + 1]!]!);
  }
  return out;
}

export function logSoftmaxTable(rng: Rng, V: number): number[][] {
  return Array.from({ length: V }, () => {
    const z = Array.from({ length: V }, () => rng.next() * 6 - 3);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    return z.map((v) => v - lse);
  });
}

export function randomResponse(rng: Rng): number[] {
  const ids: number[] = [];
  const n = rng.int(0, 24);
  for (let i = 0; i < n; i++) ids.push(rng.int(0, VOCAB.length - 1));
  if (rng.next() < 0.7) ids.push(11, ...Array.from({ length: rng.int(0, 3) }, () => rng.pick([4, 6, 8, 18, 19])), 12);
  if (rng.next() < 0.3) ids.push(20);
  return ids;
}

async function attributionCases() {
  const rng = new Rng(216);
  const table = logSoftmaxTable(rng, VOCAB.length);
  const cases = [];
  for (let c = 0; c < 60; c++) {
    const rules = randomRules(rng);
    const trajs: AttributionInput[] = Array.from({ length: rng.int(1, 6) }, () => {
      const responseIds = randomResponse(rng);
      const pieces = responseIds.map((id) => VOCAB[id]!);
      const seg = rng.next() < 0.1 ? null : outcome(() => segmentResponse(pieces, entropiesFor(rng, pieces.length), rules));
      return { promptIds: Array.from({ length: rng.int(1, 4) }, () => rng.int(0, VOCAB.length - 1)), responseIds, segmentation: seg && "value" in seg ? seg.value : null };
    });
    const measure = rng.pick(["loglik", "perplexity"] as const);
    const batch = rng.pick([1, 3, 32]);
    const seen: number[][] = [];
    const C = await attributeStepsExplicit(hashJudge(table, seen), trajs, measure, batch);
    cases.push({ trajs, measure, expect: { seqs: seen, C } });
  }
  // Inconsistent segmentations are refused with the trajectory's index.
  const errors = [];
  const bad: [string, Partial<AttributionInput>, Segmentation][] = [
    ["answer past the response", { responseIds: [1, 2] }, { boundaries: [0, 1, 2], answer: { start: 1, end: 3, contentStart: 2, contentEnd: 2 }, reasoningSteps: 1 }],
    ["content outside the answer", { responseIds: [1, 2, 3] }, { boundaries: [0, 1, 3], answer: { start: 1, end: 2, contentStart: 1, contentEnd: 3 }, reasoningSteps: 1 }],
    ["too few boundaries", { responseIds: [1, 2, 3] }, { boundaries: [0], answer: { start: 1, end: 3, contentStart: 2, contentEnd: 2 }, reasoningSteps: 2 }],
    ["empty prompt", { promptIds: [], responseIds: [1, 11, 4, 12] }, { boundaries: [0, 1, 4], answer: { start: 1, end: 4, contentStart: 2, contentEnd: 3 }, reasoningSteps: 1 }],
  ];
  for (const [name, t, segmentation] of bad) {
    const trajs = [{ promptIds: [0], responseIds: [], segmentation: null }, { promptIds: [0], responseIds: [], ...t, segmentation }];
    let error = "";
    await attributeStepsExplicit(hashJudge(table, []), trajs, "loglik").catch((e: Error) => (error = e.message));
    errors.push({ name, trajs, expect: { error } });
  }
  return { vocab: VOCAB, table, cases, errors };
}

/** Every fixture file's content, from the TypeScript implementations. */
export async function goldenFixtures(): Promise<Record<string, unknown>> {
  return { "segment.json": segmentCases(), "verifiers.json": verifierCases(), "attribution.json": await attributionCases(), "math.json": { cases: mathCases(), ...mathPairs() } };
}

/** The text a fixture file holds. */
export const fixtureText = (v: unknown): string => `${JSON.stringify(v)}\n`;

async function main(): Promise<void> {
  mkdirSync(GOLDEN_DIR, { recursive: true });
  for (const [file, v] of Object.entries(await goldenFixtures())) {
    writeFileSync(join(GOLDEN_DIR, file), fixtureText(v));
    process.stdout.write(`wrote ${join(GOLDEN_DIR, file)}\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
