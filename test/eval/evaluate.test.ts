// Evaluation: which problems an eval block means (0 = the whole split) and the metrics it
// reports (pass@k with the metric's own k). Regressions: `problems 0` evaluated 128 problems
// (and a jsonl split of 10 records failed), and pass@1 reported pass@samples.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type EvalResult, evaluate, metricValue, problemCount } from "../../runtime/loop/eval/evaluate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { CountdownTask } from "../../runtime/engine/tasks/countdown.js";
import { JsonlTask } from "../../runtime/engine/tasks/jsonl.js";
import { TaskSpecError } from "../../runtime/engine/tasks/types.js";
import { testGpu } from "../helpers/gpu.js";

const dir = mkdtempSync(join(tmpdir(), "acpo-eval-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A jsonl dataset whose test file holds 10 records (fewer than the old default of 128). */
function tenTestRecords(): JsonlTask {
  const lines = (from: number) => Array.from({ length: 10 }, (_, i) => JSON.stringify({ prompt: `What is ${from + i}+1? `, answer: from + i + 1 })).join("\n");
  writeFileSync(join(dir, "train.jsonl"), `${lines(100)}\n`);
  writeFileSync(join(dir, "test.jsonl"), `${lines(0)}\n`);
  return new JsonlTask({ train: "train.jsonl", test: "test.jsonl", verifier: "numeric" }, dir);
}

const result = (counts: { n: number; c: number }[]): EvalResult => ({
  split: "test", problems: counts.length, k: counts[0]!.n, temperature: 1, accAtK: NaN, passAtK: NaN, counts, greedyAccuracy: null, meanResponseTokens: 0, examples: [],
});

describe("eval metrics", () => {
  it("pass@k uses the metric's k, not the number of samples", () => {
    // 8 samples: one problem solved once, one never, one always.
    const r = result([{ n: 8, c: 1 }, { n: 8, c: 0 }, { n: 8, c: 8 }]);
    expect(metricValue(r, { kind: "pass", k: 1 })).toBeCloseTo((1 / 8 + 0 + 1) / 3, 12);
    // pass@4 of the first: 1 - C(7, 4) / C(8, 4) = 1 - 35/70.
    expect(metricValue(r, { kind: "pass", k: 4 })).toBeCloseTo((0.5 + 0 + 1) / 3, 12);
    expect(metricValue(r, { kind: "pass", k: 8 })).toBeCloseTo(2 / 3, 12);
    // acc@k is c/n for every k <= n.
    expect(metricValue(r, { kind: "acc", k: 1 })).toBeCloseTo((1 / 8 + 0 + 1) / 3, 12);
    expect(metricValue(r, { kind: "acc", k: 8 })).toBeCloseTo((1 / 8 + 0 + 1) / 3, 12);
    expect(() => metricValue(r, { kind: "pass", k: 9 })).toThrow(/need an integer 1 <= k <= n \(got k=9, n=8\)/);
  });
});

describe("eval problems", () => {
  it("0 means every problem of the split; a split drawn on demand has no 'every'", () => {
    const jsonl = tenTestRecords();
    expect(problemCount(jsonl, "test", 0)).toBe(10);
    expect(problemCount(jsonl, "test", 3)).toBe(3);
    expect(problemCount(new CountdownTask({ testSize: 50 }), "test", 0)).toBe(50);
    expect(() => problemCount(new CountdownTask(), "test", 0)).toThrow(
      new TaskSpecError("eval: problems 0 means the whole test split, but task countdown draws its test problems on demand (no fixed size); give a number of problems, or give the task a test_size (task option testSize)"),
    );
    expect(() => problemCount(jsonl, "test", -1)).toThrow(/problems must be an integer >= 0 \(0 = the whole split\), got -1/);
  });

  it("evaluates all 10 records of a jsonl test file with problems 0; pass@1 equals the mean accuracy", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, "models/countdown-tiny");
    try {
      const r = await evaluate(policy, tenTestRecords(), { problems: 0, k: 3, temperature: 1, maxNewTokens: 6, seed: 1, greedy: false });
      expect(r.problems).toBe(10);
      expect(r.counts).toHaveLength(10);
      expect(new Set(r.examples.map((e) => e.problem)).size).toBe(10);
      expect(r.counts.every((c) => c.n === 3)).toBe(true);
      expect(metricValue(r, { kind: "pass", k: 1 })).toBeCloseTo(r.accAtK, 12);
      expect(metricValue(r, { kind: "pass", k: 3 })).toBeCloseTo(r.passAtK, 12);
    } finally {
      policy.release();
    }
  });
});
