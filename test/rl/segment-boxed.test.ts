// The final answer of a math response is the content of its last \boxed{...} (braces
// balanced): answer.ts locates it, segmentation makes it the answer span (answer "math"),
// and attribution scores its content only, after the "\boxed{" tokens, on the character
// tokenizer and on the real Qwen byte-level BPE tokenizer.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { attributeSteps, attributeStepsExplicit } from "../../runtime/loop/rl/attribution.js";
import { segmentResponse } from "../../runtime/loop/rl/segment.js";
import { answerStyleOf, lastBoxedSpan, locateAnswer } from "../../runtime/engine/tasks/answer.js";
import { extractMathAnswer } from "../../runtime/engine/tasks/math-answer.js";
import { testGpu } from "../helpers/gpu.js";
import { tinyCharPolicyDir } from "../helpers/models.js";
import { expectClose } from "../helpers/numeric.js";
import { realTokenizer } from "../model/tokenizer-files.js";

/** [text, the math span as [start, end, content] or null]: offsets where the span starts and ends. */
const CASES: [string, [string, string, string] | null][] = [
  // [what precedes the span, the span, the content]
  ["So x = \\boxed{\\frac{1}{\\sqrt{2}}}.", ["So x = ", "\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}"]],
  ["first \\boxed{1}, then \\boxed{2} done", ["first \\boxed{1}, then ", "\\boxed{2}", "2"]],
  ["\\boxed{3} and \\boxed{4", ["", "\\boxed{3}", "3"]], // an unclosed last box: the one before it
  ["sets: \\boxed{\\{1, 2\\}}", ["sets: ", "\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"]], // escaped braces do not count
  ["$\\boxed 5$ ok", ["$", "\\boxed 5", "5"]],
  ["\\fbox{7}", ["", "\\fbox{7}", "7"]],
  ["\\boxed{(a, {b})}\n", ["", "\\boxed{(a, {b})}", "(a, {b})"]],
  ["\\boxed{}", ["", "\\boxed{}", ""]],
  ["The answer is 5.", null], // no box: no span (the verifier reads the sentence; attribution has no Y)
  ["\\boxed{unclosed", null],
  ["\\boxed", null],
  ["", null],
];

describe("the last \\boxed{} as the answer span", () => {
  it.each(CASES)("%j", (text, want) => {
    const got = locateAnswer(text, "math");
    if (want === null) {
      expect(got).toBeNull();
      expect(lastBoxedSpan(text)).toBeNull();
      return;
    }
    const [before, span, content] = want;
    expect(got).toEqual({ start: before.length, end: before.length + span.length, contentStart: before.length + span.indexOf(content, span.length - content.length - 1), contentEnd: before.length + span.length - (span.endsWith("}") ? 1 : 0), text: content, box: true });
    expect(text.slice(got!.contentStart, got!.contentEnd)).toBe(content);
    // The math verifier reads the same answer.
    expect(extractMathAnswer(text)?.text).toBe(content);
    // The tag style ignores boxes.
    expect(locateAnswer(text, "tag")).toBeNull();
  });

  it("a box inside <answer> narrows the content; the span keeps the tags", () => {
    const text = "So <answer>x = \\boxed{7}</answer> and \\boxed{9}";
    const open = text.indexOf("<answer>"), close = text.indexOf("</answer>") + "</answer>".length;
    expect(locateAnswer(text, "math")).toEqual({ start: open, end: close, contentStart: text.indexOf("7"), contentEnd: text.indexOf("7") + 1, text: "7", box: true });
    expect(extractMathAnswer(text)?.text).toBe("7");
    // Without a box inside, the tag's content; the tag style always reads the tag.
    const plain = "<answer> 12 </answer>";
    expect(locateAnswer(plain, "math")).toEqual(locateAnswer(plain, "tag"));
    expect(locateAnswer(plain, "tag")).toMatchObject({ start: 0, contentStart: 8, contentEnd: 12, text: " 12 " });
  });

  it("stays linear on hostile texts (many unclosed boxes, deep nesting)", () => {
    expect(locateAnswer("\\boxed{".repeat(100_000), "math")).toBeNull();
    const deep = `\\boxed{${"{".repeat(50_000)}x${"}".repeat(50_000)}}`;
    expect(locateAnswer(deep, "math")!.text.length).toBe(100_001);
  });

  it("math datasets read boxes; the other tasks keep the <answer> tag", () => {
    expect(answerStyleOf({ options: { verifier: "math" } })).toBe("math");
    expect(answerStyleOf({ options: { verifier: "exact" } })).toBe("tag");
    expect(answerStyleOf({ options: { numbers: [3, 3] } })).toBe("tag");
  });
});

describe("segmentation with answer \"math\"", () => {
  const chars = (s: string) => [...s];

  it("cuts the reasoning before the last box and marks its content (character tokens)", () => {
    const text = "First, 2x=10. Then, x=5. So \\boxed{\\frac{10}{2}}";
    const seg = segmentResponse(chars(text), null, { kind: "fixed", length: 8, answer: "math" });
    const R = text.indexOf("\\boxed");
    expect(seg.answer).toEqual({ start: R, end: text.length, contentStart: R + "\\boxed{".length, contentEnd: text.length - 1 });
    expect(seg.boundaries).toEqual([0, 8, 16, 24, R, text.length]);
    expect(seg.reasoningSteps).toBe(4);
    // The default (tag) style sees no answer here: one run of fixed steps to the end.
    const tag = segmentResponse(chars(text), null, { kind: "fixed", length: 8 });
    expect(tag.answer).toBeNull();
    expect(tag.reasoningSteps).toBe(tag.boundaries.length - 1);
  });

  // Byte-level BPE merges the brace with what is next to it ("{x", "{\\", "}}"): Y is every
  // token holding a character of the content (the answer keeps its first symbol), the
  // suffix the tokens before them, from the one holding the backslash of \boxed.
  it.each([
    ["First, 3/4 of 8 is 6.\nThen 6 + 1 = 7. So the answer is $\\boxed{\\frac{7}{1}}$.", [" $\\", "boxed"], ["{\\", "frac", "{", "7", "}{", "1", "}}"], []],
    ["So the answer is \\boxed{x^2 + 1}", [" \\", "boxed"], ["{x", "^", "2", " +", " ", "1"], ["}"]],
    ["So the answer is \\boxed{42}.", [" \\", "boxed", "{"], ["4", "2"], ["}."]],
  ])("on the real Qwen tokenizer: %j", (text, suffix, content, closing) => {
    const tok = realTokenizer("qwen3");
    const pieces = tok.decodePieces(tok.encode(text));
    expect(pieces.join("")).toBe(text);
    const seg = segmentResponse(pieces, null, { kind: "newline", minGap: 1, answer: "math" });
    const a = seg.answer!;
    expect(pieces.slice(a.start, a.contentStart)).toEqual(suffix);
    expect(pieces.slice(a.contentStart, a.contentEnd)).toEqual(content);
    expect(pieces.slice(a.contentEnd, a.end)).toEqual(closing);
    expect(seg.boundaries.at(-2)).toBe(a.start);
  });
});

const tinyPolicyDir = (seed: number): string => tinyCharPolicyDir(seed, 6);

async function logSoftmaxAt(gpu: Gpu, policy: Policy, seq: number[], t: number): Promise<number> {
  const V = policy.config.vocabSize, T = seq.length;
  const logits = await gpu.read(policy.model.forward(gpu.upload(Uint32Array.from(seq)), gpu.upload(Uint32Array.from({ length: T }, (_, i) => i)), 1, T));
  const row = Array.from(logits.subarray(t * V, (t + 1) * V));
  const mx = Math.max(...row);
  return row[seq[t + 1]!]! - (mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0)));
}

describe("attribution of a boxed answer", () => {
  it("scores log p(content | prompt, prefix, \\boxed{) per step; the closing brace and what follows never count", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, tinyPolicyDir(3));
    const text = "First, 7*3=21. Then, 21+4=25. So \\boxed{\\frac{50}{2}}.";
    const promptIds = [1, ...policy.tokenizer.encode("Use 7 3 4.\n")];
    const responseIds = [...policy.tokenizer.encode(text), policy.tokenizer.eosIds[0]!];
    const pieces = policy.tokenizer.decodePieces(responseIds);
    const segmentation = segmentResponse(pieces, null, { kind: "fixed", length: 10, answer: "math" });
    const a = segmentation.answer!;
    expect(pieces.slice(a.start, a.contentStart).join("")).toBe("\\boxed{");
    expect(pieces.slice(a.contentStart, a.contentEnd).join("")).toBe("\\frac{50}{2}");
    expect(pieces.slice(a.contentEnd, a.end)).toEqual(["}"]);
    expect(segmentation.boundaries).toEqual([0, 10, 20, a.start, responseIds.length]); // "First", "Then", "So" are one token each
    const L = async (e: number) => {
      const seq = [...promptIds, ...responseIds.slice(0, e), ...responseIds.slice(a.start, a.contentEnd)];
      let s = 0;
      for (let j = a.contentStart; j < a.contentEnd; j++) s += await logSoftmaxAt(gpu, policy, seq, promptIds.length + e + (j - a.start) - 1);
      return s;
    };
    const Ls: number[] = [];
    for (const e of [0, 10, 20, a.start]) Ls.push(await L(e));
    const want = Ls.slice(1).map((l, i) => l - Ls[i]!);
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.05); // a signal, so agreement says something
    const traj = { promptIds, responseIds, segmentation };
    expectClose((await attributeStepsExplicit(policy, [traj], "loglik"))[0]!, want, 2e-4, 1e-4, "explicit");
    expectClose((await attributeSteps(policy, null, [traj], "loglik"))[0]!, want, 2e-4, 1e-3, "cached");
    // Another closing and tail (same content): the same C.
    const tail = [...policy.tokenizer.encode("} and more"), policy.tokenizer.eosIds[0]!];
    const other = { promptIds, responseIds: [...responseIds.slice(0, a.contentEnd), ...tail], segmentation };
    expectClose((await attributeStepsExplicit(policy, [other], "loglik"))[0]!, want, 2e-4, 1e-4, "other tail");
  });
});
