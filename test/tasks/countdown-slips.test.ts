// Flawed warm-start traces (countdown option slipRate): one step misreads a prompt number
// by one, the rest of the trace follows it, and the answer fails the verifier.
import { describe, expect, it } from "vitest";
import { slipSolution } from "../../runtime/engine/tasks/countdown-slips.js";
import { expressionSteps, solveCountdown } from "../../runtime/engine/tasks/countdown-solver.js";
import { CountdownTask } from "../../runtime/engine/tasks/countdown.js";
import { parseEquation, printExpr } from "../../runtime/engine/tasks/expr.js";
import { Rng } from "../../runtime/engine/tasks/rng.js";

const OPTS = { numbers: [3, 3] as [number, number], values: [1, 9] as [number, number], target: [1, 30] as [number, number] };

describe("countdown slipped traces", () => {
  it("misreads exactly one number by one and names the step that uses it", () => {
    // 7*3+4 = 25: steps "7*3=21", "21+4=25".
    const e = solveCountdown([7, 3, 4], 25)!;
    const seen = new Set<string>();
    for (let s = 0; s < 40; s++) {
      const slip = slipSolution(e, new Rng(s))!;
      const text = printExpr(slip.expr);
      seen.add(text);
      const parsed = parseEquation(text);
      expect(parsed.ok).toBe(true);
      const nums = parsed.ok ? [...parsed.numbers].sort((a, b) => a - b) : [];
      const diff = [3, 4, 7].filter((n, i) => nums[i] !== n);
      expect(diff.length).toBeGreaterThanOrEqual(1);
      // The step that holds the misread number is the first whose operands differ.
      const clean = expressionSteps(e), flawed = expressionSteps(slip.expr);
      const firstDiff = clean.findIndex((st, i) => st.split("=")[0] !== flawed[i]!.split("=")[0]);
      expect(slip.step).toBe(firstDiff);
    }
    // Every leaf can be misread up or down: 7*3 -> 8*3 / 6*3 / 7*4 / 7*2 in step 0, +4 -> +5 / +3 in step 1.
    expect(seen.size).toBe(6);
  });

  it("slipRate 0 leaves traces exactly as before; slipped traces are always rejected", () => {
    const clean = new CountdownTask(OPTS);
    const flawed = new CountdownTask({ ...OPTS, slipRate: 1 });
    const half = new CountdownTask({ ...OPTS, slipRate: 0.5 });
    const ps = clean.problems("train", 300, 3);
    let wrong = 0, wrongHalf = 0;
    ps.forEach((p, i) => {
      expect(clean.verify(p, clean.trace(p, i)).correct).toBe(true);
      const v = flawed.verify(p, flawed.trace(p, i));
      if (!v.correct) {
        wrong++;
        expect(v.reason).toMatch(/^uses numbers /);
      }
      if (!half.verify(p, half.trace(p, i)).correct) wrongHalf++;
      expect(half.trace(p, i)).toBe(half.trace(p, i)); // seeded
    });
    // Every problem admits a misread that keeps the steps positive integers except a few (e.g. 1/1).
    expect(wrong / ps.length).toBeGreaterThan(0.95);
    expect(wrongHalf / ps.length).toBeGreaterThan(0.4);
    expect(wrongHalf / ps.length).toBeLessThan(0.6);
  });

  it("slipRate outside [0, 1] is refused by name", () => {
    expect(() => new CountdownTask({ ...OPTS, slipRate: 1.5 })).toThrow(/slipRate/);
  });
});
