import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TRACE_MARKERS } from "../../runtime/engine/tasks/answer.js";
import { CountdownTask, countdownKey } from "../../runtime/engine/tasks/countdown.js";
import { solveCountdown } from "../../runtime/engine/tasks/countdown-solver.js";
import { splitOf } from "../../runtime/engine/tasks/rng.js";
import { TaskSpecError } from "../../runtime/engine/tasks/types.js";
import { verifyCountdown } from "../../runtime/engine/tasks/verifiers.js";

const ans = (eq: string): string => `First, some steps. <answer>${eq}</answer>`;
const check = (numbers: number[], target: number, eq: string, formatReward = 0) => verifyCountdown(numbers, target, ans(eq), formatReward);

describe("countdown verifier", () => {
  it("accepts a correct equation, with text and whitespace around it", () => {
    expect(check([7, 3, 4], 25, "(7 * 3) + 4")).toEqual({ reward: 1, correct: true, answer: "(7 * 3) + 4", reason: "correct" });
    expect(check([7, 3, 4], 25, "4+7*3").correct).toBe(true);
    expect(verifyCountdown([7, 3, 4], 25, "<answer>\n\t 7 *\n3 + 4  \r\n</answer>").correct).toBe(true);
    expect(verifyCountdown([7, 3, 4], 25, "blah <answer>7*3+4</answer> trailing text").correct).toBe(true);
  });

  it("requires exactly the given multiset: extra, missing and repeated numbers are wrong", () => {
    const extra = check([7, 3, 4], 25, "7*3+4+1-1");
    expect(extra.correct).toBe(false);
    expect(extra.reason).toMatch(/uses numbers \[1, 1, 3, 4, 7\], must use exactly \[3, 4, 7\]/);
    expect(check([7, 3, 4], 21, "7*3").correct).toBe(false);
    expect(check([7, 3, 4], 25, "7*3+4+4-4").correct).toBe(false);
    expect(check([2, 2, 5], 10, "2*5").correct).toBe(false); // a repeated given number must be used twice
    expect(check([2, 2, 5], 12, "2*5+2").correct).toBe(true);
    expect(check([12, 3], 15, "1+2+12").correct).toBe(false); // "12" is one number, "1" and "2" are not "12"
  });

  it("treats division by zero as wrong (never inf or NaN)", () => {
    const v = check([5, 3, 3], 5, "5/(3-3)");
    expect(v).toMatchObject({ correct: false, reward: 0, reason: "division by zero" });
    expect(check([4, 2, 2], 0, "4/(2-2)").reason).toBe("division by zero");
    expect(check([5, 3, 3], 5, "5/(3-3)", 0.1).reward).toBe(0.1);
    expect(check([3, 3, 7], 0, "(3-3)/7").correct).toBe(true); // 0/7 is fine
  });

  it("rejects unicode digits and every character outside digits, + - * / ( ) and whitespace", () => {
    for (const eq of ["٣+4", "7*３+4", "7*3\u00a0+4", "7.0*3+4", "7*3+4;", "2**3", "7*3+4//c", "-7+3+4"]) {
      const v = check([7, 3, 4], 25, eq);
      expect(v.correct, eq).toBe(false);
      expect(v.reward).toBe(0);
    }
    expect(check([7, 3, 4], 25, "٣+4").reason).toMatch(/illegal character "٣"/);
    expect(check([7, 3, 4], 25, "-7+3+4").reason).toMatch(/expected a number/); // no unary minus
    expect(check([7, 3, 4], 25, "07*3+4").reason).toMatch(/leading zero/);
  });

  it("never executes injected code", () => {
    const before = (globalThis as Record<string, unknown>).pwned;
    for (const eq of ["process.exit()", "constructor", "(()=>{globalThis.pwned=1})()", "this.constructor.constructor('return process')().exit()", "__proto__", "7*3+4)+(process.exit(1)"]) {
      const v = check([7, 3, 4], 25, eq);
      expect(v.correct, eq).toBe(false);
      expect(v.reason).toMatch(/not an equation/);
    }
    expect((globalThis as Record<string, unknown>).pwned).toBe(before);
  });

  it("reads the last answer tag pair", () => {
    expect(verifyCountdown([7, 3, 4], 25, "<answer>7+3+4</answer> no wait <answer>7*3+4</answer>").correct).toBe(true);
    expect(verifyCountdown([7, 3, 4], 25, "<answer>7*3+4</answer> no wait <answer>7+3+4</answer>").correct).toBe(false);
    // An unclosed trailing tag does not count; the last complete pair does.
    expect(verifyCountdown([7, 3, 4], 25, "<answer>7*3+4</answer> <answer>7+3").correct).toBe(true);
    // Nested opening tags: the one nearest the closing tag wins.
    expect(verifyCountdown([7, 3, 4], 25, "<answer>1+<answer>7*3+4</answer>").correct).toBe(true);
  });

  it("pays format reward only for a complete but wrong answer", () => {
    expect(verifyCountdown([7, 3, 4], 25, "7*3+4", 0.1)).toMatchObject({ reward: 0, answer: null });
    expect(verifyCountdown([7, 3, 4], 25, "<answer>7*3+4", 0.1).reward).toBe(0);
    expect(verifyCountdown([7, 3, 4], 25, "<ANSWER>7*3+4</ANSWER>", 0.1).reward).toBe(0);
    expect(check([7, 3, 4], 25, "", 0.1)).toMatchObject({ reward: 0.1, correct: false, answer: "", reason: "empty answer" });
    expect(check([7, 3, 4], 25, "   ", 0.1).reason).toBe("empty answer");
    expect(check([7, 3, 4], 26, "7*3+4", 0.1)).toMatchObject({ reward: 0.1, reason: "equals 25, target 26" });
    expect(check([7, 3, 4], 25, "7*3+4", 0.1).reward).toBe(1);
  });

  it("accepts |value - target| < 1e-5 and rejects beyond", () => {
    // 200000/199999 - 1 = 5.0e-6 (inside); 100000/99999 - 1 = 1.00001e-5 (just outside).
    expect(check([200000, 199999], 1, "200000/199999").correct).toBe(true);
    expect(check([100000, 99999], 1, "100000/99999").correct).toBe(false);
    expect(check([1, 3, 3], 1, "1/3*3").correct).toBe(true); // float rounding absorbed
  });

  it("rejects absurd nesting without overflowing the stack", () => {
    const deep = "(".repeat(10_000) + "7*3+4" + ")".repeat(10_000);
    expect(check([7, 3, 4], 25, deep).reason).toMatch(/nested deeper/);
    expect(check([7, 3, 4], 25, "(".repeat(60) + "7*3+4" + ")".repeat(60)).correct).toBe(true);
  });
});

describe("countdown generator", () => {
  const task = new CountdownTask();

  it("is deterministic by seed and varies with it", () => {
    expect(task.problems("train", 50, 7)).toEqual(task.problems("train", 50, 7));
    expect(task.problems("train", 50, 7)).not.toEqual(task.problems("train", 50, 8));
    // A longer request extends a shorter one: the stream is the same.
    expect(task.problems("test", 80, 3).slice(0, 40)).toEqual(task.problems("test", 40, 3));
  });

  it("emits distinct, in-range, solvable problems whose key hashes into the requested split", () => {
    for (const split of ["train", "test"] as const) {
      const ps = task.problems(split, 300, 1);
      expect(new Set(ps.map((p) => p.id)).size).toBe(300);
      for (const p of ps) {
        expect(p.split).toBe(split);
        expect(p.numbers.length).toBeGreaterThanOrEqual(3);
        expect(p.numbers.length).toBeLessThanOrEqual(4);
        for (const n of p.numbers) expect(n >= 1 && n <= 20).toBe(true);
        expect(p.target >= 1 && p.target <= 60).toBe(true);
        expect(solveCountdown(p.numbers, p.target)).not.toBeNull();
        expect(splitOf(countdownKey(p.numbers, p.target), 0.2)).toBe(split);
        expect(p.prompt).toContain(`make ${p.target}.`);
      }
    }
  });

  it("keeps train and test disjoint across seeds, including permutations of the numbers", () => {
    const train = new Set<string>();
    for (const seed of [0, 1, 2, 3]) for (const p of task.problems("train", 500, seed)) train.add(countdownKey(p.numbers, p.target));
    let test = 0;
    for (const seed of [0, 1, 2, 3]) {
      for (const p of task.problems("test", 200, seed)) {
        expect(train.has(countdownKey(p.numbers, p.target)), p.id).toBe(false);
        expect(train.has(countdownKey([...p.numbers].reverse(), p.target))).toBe(false);
        test++;
      }
    }
    expect(test).toBe(800);
    expect(train.size).toBeGreaterThan(1500);
  });

  it("every trace verifies as correct for its own problem (property over options and seeds)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 0, max: 1 }),
        fc.integer({ min: 5, max: 30 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (seed, nlo, extra, vhi, traceSeed) => {
          const t = new CountdownTask({ numbers: [nlo, Math.min(4, nlo + extra)], values: [1, vhi], target: [1, 100] });
          for (const p of t.problems(seed % 2 === 0 ? "train" : "test", 5, seed)) {
            const tr = t.trace(p, traceSeed);
            const v = t.verify(p, tr);
            if (!v.correct) throw new Error(`${p.id}: ${tr} -> ${v.reason}`);
            const steps = tr.split(/(?<=\.) /);
            expect(steps.length).toBe(p.numbers.length); // one step per operation, plus the conclusion
            for (const s of steps) expect(TRACE_MARKERS.some((m) => s.startsWith(`${m}, `)), s).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("keeps default traces short and varies their markers by seed", () => {
    const ps = task.problems("train", 400, 11);
    for (const p of ps) expect(task.trace(p).length).toBeLessThanOrEqual(90);
    const p = ps.find((q) => q.numbers.length === 4)!;
    const variants = new Set(Array.from({ length: 20 }, (_, s) => task.trace(p, s)));
    expect(variants.size).toBeGreaterThan(1);
    expect(task.trace(p, 5)).toBe(task.trace(p, 5));
    expect(task.trace(p, 5).startsWith("First, ")).toBe(true);
  });

  it("explains options it cannot satisfy or does not know", () => {
    expect(() => new CountdownTask({ numbers: [3, 9] })).toThrow(/option 'numbers' must be <= 5/);
    expect(() => new CountdownTask({ values: [5, 2] })).toThrow(/lo <= hi/);
    expect(() => new CountdownTask({ targt: [1, 2] } as never)).toThrow(TaskSpecError);
    const tiny = new CountdownTask({ numbers: [3, 3], values: [1, 1], target: [1, 3] });
    expect(() => tiny.problems("train", 50, 0)).toThrow(/found only \d+ of 50 distinct train problems/);
    expect(() => task.trace({ id: "x", split: "train", prompt: "", numbers: [1, 1, 1], target: 59 })).toThrow(/no solution/);
  });
});
