import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entropyThreshold, segmentResponse, stepOfTokens, type SegmentRules } from "../../runtime/loop/rl/segment.js";

const chars = (s: string): string[] => [...s];
/** Offset of the n-th occurrence of `sub` in `s`, plus `plus`. */
const at = (s: string, sub: string, n = 0, plus = 0): number => {
  let i = -1;
  for (let k = 0; k <= n; k++) {
    i = s.indexOf(sub, i + 1);
    if (i < 0) throw new Error(`no ${sub} #${n} in ${s}`);
  }
  return i + plus;
};
/** Low entropy everywhere, `hi` at the given token indices. */
const ent = (T: number, high: number[], hi = 2): Float64Array => {
  const e = new Float64Array(T).fill(0.1);
  high.forEach((t, k) => (e[t] = hi + k * 0.01)); // distinct values, later ones slightly higher
  return e;
};
const entropyRules = (over: Partial<Extract<SegmentRules, { kind: "entropy" }>> = {}): SegmentRules => ({
  kind: "entropy",
  candidates: { by: "top", fraction: 0.05 },
  markers: ["First", "Then", "Next", "So", "Thus"],
  minGap: 4,
  align: "word",
  ...over,
});
/** The steps as text, to make expectations readable. */
const steps = (pieces: string[], b: number[]): string[] => b.slice(1).map((e, k) => pieces.slice(b[k], e).join(""));

const TRACE = "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>";

describe("entropy segmentation on character-level tokens", () => {
  const P = chars(TRACE);

  it("cuts at high-entropy marker starts and makes the answer its own step", () => {
    const s = segmentResponse(P, ent(P.length, [at(TRACE, "Then"), at(TRACE, "So")]), entropyRules({ candidates: { by: "top", fraction: 0.04 } }));
    expect(steps(P, s.boundaries)).toEqual(["First, 7*3=21. ", "Then, 21+4=25. ", "So, ", "<answer>7*3+4</answer>"]);
    expect(s.answer).toEqual({ start: at(TRACE, "<answer>"), end: P.length, contentStart: at(TRACE, "7*3+4"), contentEnd: at(TRACE, "</answer>") });
    expect(s.reasoningSteps).toBe(3);
  });

  it("takes only the top fraction: the lower-entropy marker is not a candidate", () => {
    const e = ent(P.length, [at(TRACE, "Then")]);
    e[at(TRACE, "So")] = 1.0; // third-highest token overall once two more are raised
    e[at(TRACE, "21", 0)] = 1.5;
    e[at(TRACE, "25")] = 1.5;
    // ceil(0.05 * 35) = 2 candidates among the 35 reasoning tokens: Then (2.0) and the first
    // digit at 1.5; So (1.0) misses.
    const s = segmentResponse(P, e, entropyRules());
    expect(steps(P, s.boundaries)).toEqual(["First, 7*3=21. ", "Then, 21+4=25. So, ", "<answer>7*3+4</answer>"]);
    // Ties go to the earlier token: raise So to 1.5 too and it still loses to the digit before it.
    e[at(TRACE, "So")] = 1.5;
    expect(segmentResponse(P, e, entropyRules()).boundaries).toEqual(s.boundaries);
    // A larger fraction reaches it.
    expect(segmentResponse(P, e, entropyRules({ candidates: { by: "top", fraction: 0.1 } })).boundaries).toContain(at(TRACE, "So"));
  });

  it("the top-fraction budget counts reasoning tokens only: hot answer digits and EOS cannot use it up", () => {
    // Regression: the budget was ceil(0.05 * all 57 tokens) = 3, all three taken by the answer's
    // digits and the EOS (ignored, since they lie after <answer>), so no step was cut.
    const p = [...P, "<eos>"];
    const e = ent(p.length, [at(TRACE, "Then")]);
    e[at(TRACE, "So")] = 1.0;
    for (const t of [at(TRACE, "7*3+4"), at(TRACE, "7*3+4", 0, 2), at(TRACE, "7*3+4", 0, 4), p.length - 1]) e[t] = 3;
    // Now ceil(0.05 * 35 reasoning tokens) = 2: Then and So.
    const s = segmentResponse(p, e, entropyRules());
    expect(steps(p, s.boundaries)).toEqual(["First, 7*3=21. ", "Then, 21+4=25. ", "So, ", "<answer>7*3+4</answer><eos>"]);
    // The batch threshold and absolute rules likewise see reasoning tokens only.
    expect(segmentResponse(p, e, entropyRules({ candidates: { by: "threshold", value: 2.5 } })).boundaries).toEqual([0, at(TRACE, "<answer>"), p.length]);
    expect(segmentResponse(p, e, entropyRules({ candidates: { by: "top", fraction: 0 }, absolute: 2.5 })).boundaries).toEqual([0, at(TRACE, "<answer>"), p.length]);
  });

  it("locates the answer's content between the tags, in tokens", () => {
    // Tokens straddling a tag: "><" style pieces. A piece that begins in the opening tag is tag;
    // one that begins in the content is content, even when it runs into the closing tag.
    const pieces = ["So", " <answer", ">1", "2", "3</", "answer>", "<eos>"];
    expect(segmentResponse(pieces, null, { kind: "none" }).answer).toEqual({ start: 1, end: 6, contentStart: 3, contentEnd: 5 });
    // Empty content: contentStart = contentEnd.
    expect(segmentResponse(chars("x<answer></answer>"), null, { kind: "none" }).answer).toEqual({ start: 1, end: 18, contentStart: 9, contentEnd: 9 });
    // The last complete answer counts; an unclosed one after it is reasoning text.
    const text = "<answer>1</answer> no, <answer>22</answer>";
    expect(segmentResponse(chars(text), null, { kind: "none" }).answer).toEqual({ start: at(text, "<answer>", 1), end: text.length, contentStart: at(text, "22"), contentEnd: at(text, "22", 0, 2) });
  });

  it("drops candidates that start no marker, and respects whole words", () => {
    const text = "Some 7*3=21. Sorting helps. Then, 21+4=25.";
    const p = chars(text);
    const s = segmentResponse(p, ent(p.length, [at(text, "Some"), at(text, "Sorting"), at(text, "7"), at(text, "Then")]), entropyRules({ candidates: { by: "top", fraction: 0.1 } }));
    expect(s.boundaries).toEqual([0, at(text, "Then"), p.length]);
    expect(s.answer).toBeNull();
    expect(s.reasoningSteps).toBe(2);
  });

  it("matches markers case-insensitively, from inside the marker, and from the whitespace before it", () => {
    const text = "First, 7*3=21. thus 21+4=25. THEN 25-1=24.";
    const p = chars(text);
    const high = [at(text, "thus", 0, 2), at(text, "THEN", 0, -1)]; // the "u" of thus, the space before THEN
    const word = segmentResponse(p, ent(p.length, high), entropyRules({ candidates: { by: "top", fraction: 0.05 } }));
    expect(steps(p, word.boundaries)).toEqual(["First, 7*3=21. ", "thus 21+4=25. ", "THEN 25-1=24."]);
    const none = segmentResponse(p, ent(p.length, high), entropyRules({ candidates: { by: "top", fraction: 0.05 }, align: "none" }));
    expect(none.boundaries).toEqual([0, ...high, p.length]);
  });

  it("sentence alignment moves a mid-sentence marker back to its sentence start", () => {
    const text = "First, 7*3=21, then 21+4=25. 25-1=24, so done.\nNext 24/2=12.";
    const p = chars(text);
    const high = [at(text, "then"), at(text, "so"), at(text, "Next", 0, 1)];
    const rules = (align: "word" | "sentence") => entropyRules({ candidates: { by: "threshold", value: 1 }, align, minGap: 1 });
    expect(steps(p, segmentResponse(p, ent(p.length, high), rules("word")).boundaries)).toEqual(["First, 7*3=21, ", "then 21+4=25. 25-1=24, ", "so done.\n", "Next 24/2=12."]);
    // "then" belongs to the first sentence (start 0: no cut); "so" to the sentence at "25-1".
    expect(steps(p, segmentResponse(p, ent(p.length, high), rules("sentence")).boundaries)).toEqual(["First, 7*3=21, then 21+4=25. ", "25-1=24, so done.\n", "Next 24/2=12."]);
    // A period with no space before the marker still ends the sentence; the one in 2.5 does not.
    const t2 = "First, 2.5*2=5.Then 5+1=6.";
    const p2 = chars(t2);
    expect(segmentResponse(p2, ent(p2.length, [at(t2, "Then")]), rules("sentence")).boundaries).toEqual([0, at(t2, "Then"), p2.length]);
  });

  it("enforces the minimum gap greedily, and keeps that gap before the answer", () => {
    const text = "First, a. Then b. So c. Thus, 21+4=25 so far. So, <answer>25</answer>";
    const p = chars(text);
    const high = [at(text, "Then"), at(text, "So"), at(text, "Thus"), at(text, "So", 1)];
    const rules = entropyRules({ candidates: { by: "threshold", value: 1 }, minGap: 8 });
    // Then (10) is kept, So (18) is 8 after it: kept; Thus (24) only 6 after So: dropped;
    // the last So is 4 before <answer>: dropped.
    expect(steps(p, segmentResponse(p, ent(p.length, high), rules).boundaries)).toEqual([
      "First, a. ",
      "Then b. ",
      "So c. Thus, 21+4=25 so far. So, ",
      "<answer>25</answer>",
    ]);
    // Gap counted from b0 = 0 too.
    const r2 = entropyRules({ candidates: { by: "threshold", value: 1 }, minGap: 11 });
    expect(segmentResponse(p, ent(p.length, high), r2).boundaries[1]).toBe(at(text, "So"));
  });

  it("handles a response without markers, an empty response, and NaN entropies", () => {
    const text = "7*3=21 and 21+4=25 <answer>7*3+4</answer>";
    const p = chars(text);
    const s = segmentResponse(p, ent(p.length, [3, 9, 15]), entropyRules());
    expect(s.boundaries).toEqual([0, at(text, "<answer>"), p.length]);
    expect(s.reasoningSteps).toBe(1);
    expect(segmentResponse([], new Float64Array(0), entropyRules())).toEqual({ boundaries: [0], answer: null, reasoningSteps: 0 });
    // NaN is never a candidate, whatever the rule: only "Then" (finite) can cut here.
    const e = new Float64Array(P.length).fill(NaN);
    e[at(TRACE, "Then")] = 2;
    const want = [0, at(TRACE, "Then"), at(TRACE, "<answer>"), P.length];
    expect(segmentResponse(P, e, entropyRules({ candidates: { by: "top", fraction: 1 }, minGap: 1 })).boundaries).toEqual(want);
    expect(segmentResponse(P, e, entropyRules({ candidates: { by: "threshold", value: -Infinity }, minGap: 1 })).boundaries).toEqual(want);
    expect(segmentResponse(P, e, entropyRules({ candidates: { by: "top", fraction: 0 }, absolute: 0, minGap: 1 })).boundaries).toEqual(want);
    expect(() => segmentResponse(P, new Float64Array(3), entropyRules())).toThrow(/56 tokens but 3 entropies/);
  });

  it("adds candidates above an absolute threshold, and takes a batch-level threshold", () => {
    const e = ent(P.length, [at(TRACE, "Then")]);
    e[at(TRACE, "So")] = 1.0;
    const top1 = entropyRules({ candidates: { by: "top", fraction: 0.01 } });
    expect(segmentResponse(P, e, top1).boundaries).not.toContain(at(TRACE, "So"));
    expect(segmentResponse(P, e, { ...top1, absolute: 0.5 } as SegmentRules).boundaries).toContain(at(TRACE, "So"));
    // Batch threshold: the top 2 of 4 tokens over both responses.
    expect(entropyThreshold([[0.1, 3], [2, 0.5]], 0.5)).toBe(2);
    expect(entropyThreshold([[0.1, NaN], [2]], 1)).toBe(0.1);
    expect(entropyThreshold([[1, 2]], 0)).toBe(Infinity);
    const th = entropyThreshold([e], 2 / P.length);
    expect(segmentResponse(P, e, entropyRules({ candidates: { by: "threshold", value: th } })).boundaries).toEqual([0, at(TRACE, "Then"), at(TRACE, "So"), at(TRACE, "<answer>"), P.length]);
  });

  it("an empty marker list keeps every candidate, aligned to its word", () => {
    const text = "Let 7*3=21 go";
    const p = chars(text);
    const s = segmentResponse(p, ent(p.length, [at(text, "go", 0, 1), at(text, "21")]), entropyRules({ candidates: { by: "threshold", value: 1 }, markers: [], minGap: 1 }));
    expect(s.boundaries).toEqual([0, at(text, "21"), at(text, "go"), p.length]);
  });
});

describe("entropy segmentation on multi-character tokens", () => {
  it("works with word-level pieces carrying leading spaces, and with a single <answer> token", () => {
    const pieces = ["First", ",", " 7*3=21", ".", " Then", ",", " 21+4=25", ".", " So", ",", " ", "<answer>", "7*3+4", "</answer>"];
    const s = segmentResponse(pieces, ent(pieces.length, [4, 8]), entropyRules({ candidates: { by: "threshold", value: 1 }, minGap: 2 }));
    expect(s.boundaries).toEqual([0, 4, 8, 11, 14]);
    expect(s.answer).toEqual({ start: 11, end: 14, contentStart: 12, contentEnd: 13 });
    expect(steps(pieces, s.boundaries)).toEqual(["First, 7*3=21.", " Then, 21+4=25.", " So, ", "<answer>7*3+4</answer>"]);
  });

  it("a marker split over sub-word pieces is found from any of them", () => {
    const pieces = ["First", " 7", ". Th", "en", " 8", ". ", "<answer>", "8", "</answer>"];
    const rules = entropyRules({ candidates: { by: "threshold", value: 1 }, minGap: 1 });
    // The candidate is "en": the text from there is inside "Then", whose first char is in ". Th".
    expect(segmentResponse(pieces, ent(pieces.length, [3]), rules).boundaries).toEqual([0, 2, 6, 9]);
  });
});

describe("other segmentation kinds", () => {
  it("newline: a step starts at the first non-blank token of each line", () => {
    const text = "First 7*3=21\n\n  Then 21+4=25\nSo\n<answer>25</answer>";
    const p = chars(text);
    const s = segmentResponse(p, null, { kind: "newline", minGap: 1 });
    expect(steps(p, s.boundaries)).toEqual(["First 7*3=21\n\n  ", "Then 21+4=25\n", "So\n", "<answer>25</answer>"]);
    // Min gap drops the short "So" line (3 tokens before the answer).
    expect(steps(p, segmentResponse(p, null, { kind: "newline", minGap: 4 }).boundaries)).toEqual(["First 7*3=21\n\n  ", "Then 21+4=25\nSo\n", "<answer>25</answer>"]);
    // A newline inside a token still starts a line at that token.
    const pieces = ["a", " b", "\nThen", " c", "\n", "\n"];
    expect(segmentResponse(pieces, null, { kind: "newline", minGap: 1 }).boundaries).toEqual([0, 2, 6]);
  });

  it("fixed: every `length` tokens of the reasoning, then the answer", () => {
    const text = "abcdefghij<answer>1</answer>";
    const p = chars(text);
    expect(segmentResponse(p, null, { kind: "fixed", length: 4 }).boundaries).toEqual([0, 4, 8, 10, p.length]);
    expect(segmentResponse(p, null, { kind: "fixed", length: 5 }).boundaries).toEqual([0, 5, 10, p.length]);
    expect(segmentResponse(p, null, { kind: "fixed", length: 4, answerBoundary: false }).boundaries.slice(0, 4)).toEqual([0, 4, 8, 12]);
    expect(() => segmentResponse(p, null, { kind: "fixed", length: 0 })).toThrow(/length must be an integer >= 1/);
  });

  it("none: one step (plus the answer step unless answerBoundary is off)", () => {
    const p = chars(TRACE);
    const answer = { start: at(TRACE, "<answer>"), end: p.length, contentStart: at(TRACE, "7*3+4"), contentEnd: at(TRACE, "</answer>") };
    expect(segmentResponse(p, null, { kind: "none", answerBoundary: false })).toEqual({ boundaries: [0, p.length], answer, reasoningSteps: 1 });
    expect(segmentResponse(p, null, { kind: "none" }).boundaries).toEqual([0, at(TRACE, "<answer>"), p.length]);
    const only = chars("<answer>5</answer> extra");
    expect(segmentResponse(only, null, { kind: "none" })).toEqual({ boundaries: [0, only.length], answer: { start: 0, end: 18, contentStart: 8, contentEnd: 9 }, reasoningSteps: 0 });
    expect(segmentResponse(chars("no answer"), null, { kind: "none" }).boundaries).toEqual([0, 9]);
  });

  it("maps tokens to steps", () => {
    expect(Array.from(stepOfTokens([0, 2, 5, 6]))).toEqual([0, 0, 1, 1, 1, 2]);
    expect(stepOfTokens([0]).length).toBe(0);
  });
});

describe("segmentation invariants (property)", () => {
  const alphabet = fc.constantFrom("a", "7", " ", ".", "\n", "Then", "so", "First", "<answer>", "</answer>", "+", "=", "Th", "en", "");
  it("boundaries run 0 < ... < T, steps before the answer respect the min gap, the answer starts a step", () => {
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 60 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom("sentence", "word", "none" as const),
        fc.constantFrom("entropy", "newline", "fixed", "none" as const),
        fc.boolean(),
        (pieces, seed, gap, align, kind, answerBoundary) => {
          let x = seed;
          const e = pieces.map(() => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32) * 3);
          const rules: SegmentRules =
            kind === "entropy"
              ? { kind, candidates: { by: "top", fraction: 0.3 }, markers: ["then", "so", "first"], minGap: gap, align, answerBoundary }
              : kind === "newline"
                ? { kind, minGap: gap, answerBoundary }
                : kind === "fixed"
                  ? { kind, length: gap, answerBoundary }
                  : { kind, answerBoundary };
          const s = segmentResponse(pieces, e, rules);
          const b = s.boundaries;
          const T = pieces.length;
          expect(b[0]).toBe(0);
          expect(b[b.length - 1]).toBe(T);
          for (let k = 1; k < b.length; k++) expect(b[k]!).toBeGreaterThan(b[k - 1]!);
          if (s.answer !== null) {
            const a = s.answer;
            expect(a.start <= a.contentStart && a.contentStart <= a.contentEnd && a.contentEnd <= a.end).toBe(true);
          }
          if (s.answer !== null && answerBoundary) {
            expect(b[s.reasoningSteps]).toBe(s.answer.start);
          } else {
            expect(s.reasoningSteps).toBe(b.length - 1);
          }
          if (kind === "entropy" || kind === "newline") {
            const R = b[s.reasoningSteps]!;
            for (let k = 1; k < s.reasoningSteps; k++) expect(b[k]! - b[k - 1]!).toBeGreaterThanOrEqual(gap);
            if (s.answer !== null && answerBoundary && s.reasoningSteps > 1) expect(R - b[s.reasoningSteps - 1]!).toBeGreaterThanOrEqual(gap);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
