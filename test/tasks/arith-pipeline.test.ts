// `task arithmetic` as a pipeline writes it reaches the runtime's arith task with the same
// meaning: operands -> operations, operation names -> symbols, values and max_value as
// bounds. (It used to fail at run time: the language's defaults were outside the task's.)
import { describe, expect, it } from "vitest";
import { formatAll, loadPipeline } from "../../compiler/index.js";
import { taskFromPipeline } from "../../runtime/loop/rl/task-of.js";
import type { ArithProblem } from "../../runtime/engine/tasks/arith.js";

const text = (task: string) =>
  `pipeline p {\n  model "m"\n  task ${task}\n  rollout { prompts 2 group 2 temperature 1 max_tokens 8 }\n  optimizer adamw { lr 1e-3 }\n  advantage = r\n  stage s until steps >= 1 { kl 0 }\n  loss ppo_clip { eps_low 0.2 eps_high 0.2 aggregate token_mean }\n}\n`;

function load(task: string) {
  const r = loadPipeline("/tmp/arith.acpo", { text: text(task) });
  if (!r.pipeline) throw new Error(formatAll(r));
  return taskFromPipeline(r.pipeline.task, "/tmp");
}

describe("task arithmetic", () => {
  it("builds with its defaults: 2..3 operands from 1..9, add/sub/mul, intermediate values in [0, 99]", () => {
    const problems = load("arithmetic { }").problems("train", 200, 1) as ArithProblem[];
    expect(problems).toHaveLength(200);
    for (const p of problems) {
      expect(p.steps.length).toBeGreaterThanOrEqual(1);
      expect(p.steps.length).toBeLessThanOrEqual(2);
      expect([p.start, ...p.steps.map((s) => s.operand)].every((v) => v >= 1 && v <= 9)).toBe(true);
      expect(p.steps.every((s) => ["+", "-", "*"].includes(s.op))).toBe(true);
      expect(p.answer >= 0 && p.answer <= 99).toBe(true);
    }
  });

  it("maps the written operations and bounds", () => {
    const problems = load("arithmetic { operands 4..4  values 2..5  max_value 40  ops [div, mul]  test_size 30 }").problems("test", 30, 2) as ArithProblem[];
    for (const p of problems) {
      expect(p.steps).toHaveLength(3);
      expect(p.steps.every((s) => s.op === "/" || s.op === "*")).toBe(true);
      expect(p.answer).toBeLessThanOrEqual(40);
    }
    expect(problems.some((p) => p.steps.some((s) => s.op === "/"))).toBe(true);
  });

  it("the checker refuses what the task cannot build", () => {
    const errors = (task: string) => loadPipeline("/tmp/arith.acpo", { text: text(task) }).diagnostics.map((d) => `${d.code} ${d.message}`);
    expect(errors("arithmetic { values 0..9 }")).toEqual([expect.stringMatching(/^E0401 /)]);
    expect(errors("arithmetic { operands 2..12 }")).toEqual([expect.stringMatching(/^E0401 /)]);
    expect(errors("arithmetic { values 5..9  max_value 3 }")).toEqual(["E0401 `values` starts above `max_value` (5 > 3): no problem has a legal start"]);
    expect(errors("arithmetic { ops [pow] }")[0]).toMatch(/^E0\d{3} /);
  });
});
