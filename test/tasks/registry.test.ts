import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TASK_NAMES, taskFromSpec } from "../../runtime/engine/tasks/registry.js";
import { TaskSpecError } from "../../runtime/engine/tasks/types.js";

describe("taskFromSpec", () => {
  it("builds each task with its defaults filled in", () => {
    expect(TASK_NAMES).toEqual(["countdown", "arith", "jsonl", "parquet"]);
    const c = taskFromSpec({ name: "countdown", options: { numbers: [3, 3], target: [10, 40] } });
    expect(c.options).toEqual({ numbers: [3, 3], values: [1, 20], target: [10, 40], testFraction: 0.2, trainSize: 0, testSize: 0, formatReward: 0, slipRate: 0 });
    const [p] = c.problems("test", 1, 0);
    expect(c.verify(p!, c.trace(p!)).correct).toBe(true);
    const a = taskFromSpec({ name: "arith", options: { steps: 3 } });
    expect(a.options).toMatchObject({ steps: [3, 3], values: [1, 9] });
  });

  it("explains unknown names and options", () => {
    expect(() => taskFromSpec({ name: "gsm8k" })).toThrow(new TaskSpecError("unknown task 'gsm8k'; known tasks: countdown, arith, jsonl, parquet"));
    expect(() => taskFromSpec({ name: "constructor" })).toThrow(/unknown task 'constructor'/);
    expect(() => taskFromSpec({ name: "countdown", options: { number: [3, 4] } })).toThrow(
      "task countdown: unknown option 'number'; valid options: formatReward, numbers, slipRate, target, testFraction, testSize, trainSize, values",
    );
    expect(() => taskFromSpec({ name: "arith", options: { steps: "3" } })).toThrow(/option 'steps' must be a range \[lo, hi\] or a number \(got "3"\)/);
    expect(() => taskFromSpec({ name: "countdown", options: { values: [1, 2.5] } })).toThrow(/option 'values' must be an integer/);
    expect(() => taskFromSpec({ name: "jsonl", options: { path: "x.jsonl", verifier: "regex" } })).toThrow(/option 'verifier' must be one of 'exact', 'numeric', 'countdown'/);
  });

  it("resolves jsonl paths against the pipeline's folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-reg-"));
    try {
      writeFileSync(join(dir, "data.jsonl"), `${JSON.stringify({ prompt: "2+2?", answer: 4, split: "test" })}\n`);
      const t = taskFromSpec({ name: "jsonl", options: { path: "data.jsonl", verifier: "numeric" } }, { baseDir: dir });
      expect(t.size("test")).toBe(1);
      expect(t.options.path).toBe(join(dir, "data.jsonl"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
