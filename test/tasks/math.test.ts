// The math verifier: extraction of the final answer, and a table of the comparisons math
// answer checkers are known to get wrong, in both directions (accepting a wrong answer,
// refusing a right one written differently).
import { describe, expect, it } from "vitest";
import { extractMathAnswer, lastBoxed } from "../../runtime/engine/tasks/math-answer.js";
import { mathEqual, parseable } from "../../runtime/engine/tasks/math-equal.js";
import { normalizeMath } from "../../runtime/engine/tasks/math-normalize.js";
import { referenceAnswer, verifyMath } from "../../runtime/engine/tasks/verifiers.js";

describe("math answer extraction", () => {
  it("takes the last \\boxed{} with nested braces", () => {
    expect(lastBoxed("first \\boxed{1}, then \\boxed{\\frac{1}{\\sqrt{2}}} done")).toBe("\\frac{1}{\\sqrt{2}}");
    expect(lastBoxed("\\boxed{\\{1, 2\\}}")).toBe("\\{1, 2\\}");
    expect(lastBoxed("so \\boxed 5$ ok")).toBe("5");
    expect(lastBoxed("\\fbox{7}")).toBe("7");
    // An unclosed last box: the one before it counts.
    expect(lastBoxed("\\boxed{3} and \\boxed{4")).toBe("3");
    expect(lastBoxed("no box")).toBeNull();
  });
  it("prefers <answer>, then \\boxed, then 'the answer is'", () => {
    expect(extractMathAnswer("\\boxed{1} <answer>2</answer>")).toEqual({ text: "2", how: "answer tag" });
    expect(extractMathAnswer("<answer>so \\boxed{3}</answer>")).toEqual({ text: "3", how: "answer tag" });
    expect(extractMathAnswer("x \\boxed{1} y \\boxed{2}")).toEqual({ text: "2", how: "boxed" });
    expect(extractMathAnswer("The final answer is $\\frac{1}{2}$. I hope it is correct.")).toEqual({ text: "$\\frac{1}{2}$", how: "answer is" });
    expect(extractMathAnswer("So the answer is 3.5.")).toEqual({ text: "3.5", how: "answer is" });
    expect(extractMathAnswer("The answer is: 12\nThanks")).toEqual({ text: "12", how: "answer is" });
    expect(extractMathAnswer("I don't know")).toBeNull();
  });
  it("reads the reference of MATH solutions and GSM8K answers", () => {
    expect(referenceAnswer("Add them: $1+1=\\boxed{2}$.")).toBe("2");
    expect(referenceAnswer("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72")).toBe("72");
    expect(referenceAnswer(" \\frac{3}{4} ")).toBe("\\frac{3}{4}");
  });
});

describe("math answer normal form", () => {
  it.each([
    ["$\\dfrac{1}{2}$", "\\frac{1}{2}"],
    ["5\\text{ cm}", "5"],
    ["\\text{5 cm}", "5"],
    ["1,000,000", "1000000"],
    ["1\\,000", "1000"],
    ["1{,}234", "1234"],
    ["30^\\circ", "30"],
    ["30^{\\circ}", "30"],
    ["\\$10.50", "10.50"],
    ["5.", "5"],
    ["\\text{(B)}", "(B)"],
    ["12 square feet", "12"],
    ["\\left( 1, 2 \\right)", "( 1, 2 )"],
    ["50\\%", "50%"],
  ])("%s -> %s", (raw, norm) => expect(normalizeMath(raw)).toBe(norm));
});

// [reference, answer, equal, why this case]
const TABLE: [string, string, boolean, string][] = [
  // Right answers written differently (checkers that compare strings refuse these).
  ["\\frac{1}{2}", "0.5", true, "fraction vs decimal"],
  ["0.5", "1/2", true, "decimal vs slash fraction"],
  ["\\frac{1}{2}", "\\dfrac{1}{2}", true, "\\dfrac"],
  ["\\frac{3}{4}", "\\tfrac34", true, "\\tfrac with single-digit arguments"],
  ["\\frac12", "\\frac{1}{2}", true, "braceless \\frac"],
  ["2\\sqrt{2}", "\\sqrt{8}", true, "equivalent radicals"],
  ["\\sqrt{2}", "\\sqrt2", true, "braceless \\sqrt"],
  ["\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", true, "radical factor moved"],
  ["\\frac{\\pi}{2}", "\\pi/2", true, "pi over two"],
  ["-\\frac{1}{2}", "\\frac{-1}{2}", true, "sign placement"],
  ["1000", "1,000", true, "thousands separator"],
  ["1000000", "1\\,000\\,000", true, "thin-space thousands separator"],
  ["1000", "10^{3}", true, "power of ten"],
  ["1024", "2^{10}", true, "power"],
  ["5", "5.0", true, "trailing zero"],
  ["0.5", "0.50", true, "trailing zero in decimals"],
  ["5", "+5", true, "explicit plus"],
  ["5", "5.", true, "trailing period"],
  ["5", "$5$", true, "math delimiters"],
  ["5", "\\boxed{5}", true, "nested box"],
  ["10", "\\$10", true, "dollar sign"],
  ["10", "10 \\text{ dollars}", true, "\\text unit"],
  ["12", "12 cm", true, "unit word"],
  ["72", "72 clips", true, "noun after a number (GSM8K)"],
  ["5", "5 or more", false, "a qualifier is not a unit"],
  ["30", "30^\\circ", true, "degrees"],
  ["25\\%", "25", true, "percent vs number"],
  ["25\\%", "0.25", true, "percent vs fraction"],
  ["5", "x = 5", true, "variable assignment"],
  ["(-3, 3)", "(-3,3)", true, "interval spacing"],
  ["(-\\infty, 3]", "(-\\infty,3]", true, "half-open interval with infinity"],
  ["[1, \\infty)", "\\left[1, \\infty\\right)", true, "\\left \\right"],
  ["(3, -1)", "\\left(3, -1\\right)", true, "point"],
  ["\\{1, 2\\}", "\\{2, 1\\}", true, "set order"],
  ["1, 2", "2, 1", true, "solution list order"],
  ["2x + 2", "2(x+1)", true, "expanded vs factored"],
  ["y = 2x + 3", "y = 3 + 2x", true, "equation sides rearranged"],
  ["(-\\infty, -2) \\cup (2, \\infty)", "(2, \\infty) \\cup (-\\infty, -2)", true, "union order"],
  ["\\text{(B)}", "B", true, "multiple-choice letter"],
  ["\\frac{1}{3}", "0.3333333333333", true, "decimal to 13 places"],
  // Wrong answers that lenient checkers accept.
  ["\\frac{1}{2}", "12", false, "braces stripped: \\frac{1}{2} is not 12"],
  ["\\sqrt{2}", "2", false, "\\sqrt stripped"],
  ["\\frac{1}{3}", "0.333", false, "rounded decimal"],
  ["\\pi", "3.14", false, "pi approximated"],
  ["e", "2.718", false, "e approximated"],
  ["x^2", "2x", false, "equal at x = 2 only"],
  ["(1, 2)", "[1, 2]", false, "open vs closed interval"],
  ["(1, 2)", "(2, 1)", false, "point order matters"],
  ["[1, 2)", "[1, 2]", false, "half-open vs closed"],
  ["-5", "5", false, "sign dropped"],
  ["\\frac{1}{2}", "\\frac{2}{1}", false, "fraction inverted"],
  ["\\infty", "-\\infty", false, "infinities of opposite sign"],
  ["\\{1, 2\\}", "\\{1, 2, 3\\}", false, "set with an extra element"],
  ["1, 2", "1", false, "one of two solutions"],
  ["5\\%", "0.5", false, "percent misread by a factor of 10"],
  ["25", "0.25", false, "no percent on either side: 25 is not 0.25"],
  ["1000", "1.000", false, "a decimal point is not a thousands separator"],
  ["2", "22", false, "prefix"],
  ["10", "100", false, "more digits"],
  ["2^{9999999}", "\\infty", false, "overflow is not infinity"],
  ["2x", "2y", false, "different variable"],
  ["x = 5", "y = 6", false, "different equation"],
  ["\\frac{\\pi}{6}", "30^\\circ", false, "no unit conversion: 30 degrees is read as 30"],
];

describe("math equality: cases checkers get wrong", () => {
  it("has at least 40 cases, both ways", () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(40);
    expect(TABLE.filter((c) => !c[2]).length).toBeGreaterThanOrEqual(15);
  });
  it.each(TABLE)("%s vs %s -> %s (%s)", (reference, answer, equal) => {
    expect(mathEqual(reference, answer)).toBe(equal);
    // Equality is symmetric (percent included).
    expect(mathEqual(answer, reference)).toBe(equal);
  });
});

describe("math verifier", () => {
  it("scores a response by its final answer", () => {
    expect(verifyMath("\\frac{3}{4}", "1/2 + 1/4 = 3/4, so the answer is $\\boxed{0.75}$.")).toEqual({ reward: 1, correct: true, answer: "0.75", reason: "correct" });
    expect(verifyMath("72", "<answer>72 clips</answer>")).toMatchObject({ correct: true });
    expect(verifyMath("3", "\\boxed{4}", 0.1)).toEqual({ reward: 0.1, correct: false, answer: "4", reason: 'got "4" (boxed), expected "3"' });
    expect(verifyMath("3", "three", 0.1)).toEqual({ reward: 0, correct: false, answer: null, reason: "no final answer (<answer>...</answer>, \\boxed{...} or 'the answer is ...')" });
  });

  it("bounds its work on hostile answers (by size, no timers)", () => {
    // Each of these used to be a risk: the engine's own evaluation of 10^{10^{10}} does not
    // return; 9999999! and deep nesting are bounded by our evaluator and the size limits.
    expect(mathEqual("1", "10^{10^{10}}")).toBe(false);
    expect(mathEqual("1", "9999999!")).toBe(false);
    expect(mathEqual("120", "5!")).toBe(true);
    expect(mathEqual("1", "\\frac{".repeat(300) + "1" + "}{1}".repeat(300))).toBe(false);
    expect(mathEqual("1", "1+".repeat(5000) + "1")).toBe(false);
    expect(mathEqual("x", "x".repeat(100000))).toBe(false);
    expect(verifyMath("1", "\\boxed{" + "{".repeat(100000))).toMatchObject({ correct: false, answer: null });
    expect(verifyMath("1", "the answer is " + "$".repeat(200000))).toMatchObject({ correct: false });
  });

  it("gives the LaTeX parser only short school algebra (it took 14 s on this fuzzed answer)", () => {
    const fuzzed = "/cm\\sqrt(\\int\\cdot\\left(\\{( \\pi\\}\\lim\\lim(\\cup\\ln\\sum_{n=1}^{\\frac![\\binom\\sum_{n=1}^{[).10^{= )[\\right)\\int\\sqrt=]\\frac!\\infty=";
    expect(parseable(fuzzed)).toBe(false);
    expect(mathEqual("1", fuzzed)).toBe(false);
    expect(parseable("\\sum_{n=1}^{10} n")).toBe(false);
    expect(parseable("x".repeat(121))).toBe(false);
    expect(parseable("\\frac{\\sqrt{3}}{2} + \\sin(\\pi x)^2")).toBe(true);
  });
});
