// The countdown process verifier (runtime/engine/tasks/countdown-steps.ts): each step's equations
// checked on their own, on hand-made traces, on the task's own clean and slipped traces,
// and through the tokenizer's pieces and the segmentation the prm_steps example uses.
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { segmentRules } from "../../runtime/loop/rl/rollout.js";
import { segmentResponse } from "../../runtime/loop/rl/segment.js";
import { checkCountdownSteps, checkCountdownTrace, findEquations, stepChecker, stepOffsets } from "../../runtime/engine/tasks/countdown-steps.js";
import { countdownTrace, CountdownTask } from "../../runtime/engine/tasks/countdown.js";
import { solveCountdown, expressionSteps } from "../../runtime/engine/tasks/countdown-solver.js";
import { ArithTask } from "../../runtime/engine/tasks/arith.js";

describe("countdown step checker", () => {
  it.each([
    ["a clean trace: every equation holds with prompt numbers or earlier results", [7, 3, 4], ["First, 7*3=21. ", "Then, 21+4=25. ", "So, <answer>7*3+4</answer>"], [1, 1, 1]],
    ["wrong arithmetic fails that step only; the result still joins the pool", [7, 3, 4], ["First, 7*3=22. ", "Then, 22+4=26. ", "So, <answer>7*3+4</answer>"], [0, 1, 1]],
    ["a misread operand (8 for 7) fails the step that uses it", [7, 3, 4], ["First, 8*3=24. ", "Then, 24+4=28. ", "So, <answer>8*3+4</answer>"], [0, 1, 1]],
    ["a number used twice: the second use finds no copy", [7, 3, 4], ["First, 7*3=21. ", "Then, 21+3=24. "], [1, 0]],
    ["an earlier result used twice: the second use finds no copy", [2, 3, 4], ["First, 2*3=6. ", "Then, 6+6=12. "], [1, 0]],
    ["a step with no equation scores 1 (nothing to refute)", [7, 3, 4], ["Let me think. ", "First, 7*3=21. "], [1, 1]],
    ["two equations in a step: one wrong fails the step", [7, 3, 4, 2], ["First, 7*3=21 and 4/2=3. ", "Then, 21+3=24."], [0, 1]],
    ["division: exact quotient, and a non-integer one when it is right", [9, 3, 2], ["First, 9/3=3. ", "Then, 3/2=1.5."], [1, 1]],
    ["division by zero fails", [5, 0, 2], ["First, 5/0=0. "], [0]],
    ["a negative result checks", [3, 5, 1], ["First, 3-5=-2. "], [1]],
  ])("%s", (_what, numbers, steps, want) => {
    expect(checkCountdownSteps(numbers, steps)).toEqual(want);
  });

  it("reads `a op b = c` only where the left operand starts the expression", () => {
    // "7*3+4=25" is a chained expression, not the equation "3+4=25"; spaces around operators are allowed.
    expect(findEquations("so 7*3+4=25 and 6 + 2 = 8").map((e) => [e.a, e.op, e.b, e.c])).toEqual([[6, "+", 2, 8]]);
    expect(findEquations("(7*3)=21, 10-3=7.")).toEqual([{ a: 10, op: "-", b: 3, c: 7, at: 10 }]);
  });

  it("an equation cut by a step boundary belongs to the step holding its first character", () => {
    // Offsets 0 and 13: the equation "7*3=21" starts at 9, in step 0, although its result lies in step 1.
    expect(checkCountdownTrace([7, 3], "First, x 7*3=21. Then.", [0, 13])).toEqual([1, 1]);
    expect(checkCountdownTrace([7, 3], "First, x 7*3=22. Then.", [0, 13])).toEqual([0, 1]);
  });

  it("the task's clean traces pass every step; a slipped trace fails exactly its misread step", () => {
    let slipped = 0;
    for (const [nums, target] of [[[7, 3, 4], 25], [[2, 5, 9], 19], [[6, 4, 8], 16], [[3, 9, 5], 32], [[8, 2, 7], 23]] as const) {
      const e = solveCountdown(nums, target)!;
      const n = expressionSteps(e).length;
      for (let seed = 0; seed < 6; seed++) {
        const clean = countdownTrace(nums, target, seed);
        expect(checkCountdownSteps(nums, sentences(clean)), clean).toEqual(new Array(n + 1).fill(1));
        const slip = countdownTrace(nums, target, seed, 1);
        if (slip === clean) continue;
        slipped++;
        const scores = checkCountdownSteps(nums, sentences(slip));
        // One misread: one failing step, every other (later ones carry the slip honestly) passes.
        expect(scores.filter((s) => s === 0), slip).toHaveLength(1);
        expect(scores.filter((s) => s === 1), slip).toHaveLength(n);
      }
    }
    expect(slipped).toBeGreaterThan(10);
  });

  it("maps token steps to text through the tokenizer's pieces and the example's segmentation", () => {
    const p = loadPipeline("examples/prm_steps.acpo").pipeline!;
    const text = "First, 8*3=24. Then, 24+4=28. So, <answer>8*3+4</answer>";
    // Uneven pieces, as a BPE tokenizer would give them: words, digits and punctuation.
    const pieces = text.match(/[A-Za-z]+|\d|[^A-Za-z\d]/g)!;
    expect(pieces.join("")).toBe(text);
    const seg = segmentResponse(pieces, new Array(pieces.length).fill(1), segmentRules(p.segment)!);
    const starts = seg.boundaries.slice(0, -1);
    expect(stepOffsets(pieces, starts)).toEqual([0, 15, 30, 34]); // the answer is its own step
    const task = new CountdownTask();
    const problem = { id: "q", split: "train" as const, prompt: "", numbers: [7, 3, 4], target: 25 };
    expect(stepChecker(task)!(problem, pieces, starts)).toEqual([0, 1, 1, 1]);
    expect(stepChecker(new ArithTask())).toBeNull();
  });
});

/** A trace cut at the start of each sentence (what the example's segmentation does). */
function sentences(trace: string): string[] {
  return trace.split(/(?<=\. )/);
}
