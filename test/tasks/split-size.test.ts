// Split sizes: a task's trainSize/testSize (a pipeline's train_size/test_size) fix its splits;
// 0 (the default) draws them on demand. Regression: the pipeline's sizes were parsed,
// printed and ignored.
import { describe, expect, it } from "vitest";
import { formatAll, loadPipeline } from "../../compiler/index.js";
import { taskFromPipeline } from "../../runtime/loop/rl/task-of.js";
import { ArithTask } from "../../runtime/engine/tasks/arith.js";
import { CountdownTask } from "../../runtime/engine/tasks/countdown.js";
import { TaskSpecError } from "../../runtime/engine/tasks/types.js";

const SMALL = { numbers: [3, 3] as [number, number], values: [1, 9] as [number, number], target: [1, 30] as [number, number] };
const ids = (ps: { id: string }[]) => ps.map((p) => p.id);

describe("fixed split sizes", () => {
  it("a sized split is one fixed set for every seed; problems picks from it by the seed", () => {
    const t = new CountdownTask({ ...SMALL, testSize: 40 });
    expect(t.size("test")).toBe(40);
    expect(t.size("train")).toBeNull();
    const all = ids(t.problems("test", 40, 1));
    expect(new Set(all).size).toBe(40);
    // Another seed: the same 40 problems, in another order.
    const again = ids(t.problems("test", 40, 2));
    expect([...again].sort()).toEqual([...all].sort());
    expect(again).not.toEqual(all);
    // Fewer: a subset, chosen by the seed, reproducibly.
    const ten = ids(t.problems("test", 10, 3));
    for (const id of ten) expect(all).toContain(id);
    expect(ids(t.problems("test", 10, 3))).toEqual(ten);
    expect(ids(t.problems("test", 10, 4))).not.toEqual(ten);
    // A new task object with the same options has the same split (it does not depend on a run).
    expect([...ids(new CountdownTask({ ...SMALL, testSize: 40 }).problems("test", 40, 9))].sort()).toEqual([...all].sort());
  });

  it("without a size a split is drawn on demand: every seed gives new problems", () => {
    const t = new CountdownTask(SMALL);
    expect(t.size("train")).toBeNull();
    const a = new Set(ids(t.problems("train", 40, 1))), b = ids(t.problems("train", 40, 2));
    expect(b.filter((id) => a.has(id)).length).toBeLessThan(20);
  });

  it("train and test stay disjoint with sizes", () => {
    const t = new ArithTask({ trainSize: 300, testSize: 60 });
    expect([t.size("train"), t.size("test")]).toEqual([300, 60]);
    const train = new Set(ids(t.problems("train", 300, 0)));
    expect(train.size).toBe(300);
    for (const p of t.problems("test", 60, 5)) expect(train.has(p.id), p.id).toBe(false);
  });

  it("asking beyond a size, or a size beyond the options' space, says which size to change", () => {
    const t = new CountdownTask({ ...SMALL, testSize: 40 });
    expect(() => t.problems("test", 41, 0)).toThrow(
      new TaskSpecError("task countdown: asked for 41 test problems but the test split holds 40 (test_size); ask for at most 40, or raise test_size (task option testSize)"),
    );
    // The small space holds about 1,220 train problems.
    const big = new CountdownTask({ ...SMALL, trainSize: 5000 });
    expect(() => big.problems("train", 1, 0)).toThrow(/^task countdown: found only \d+ of 5000 distinct train problems with these options; widen 'values' or 'target', or change 'testFraction', or lower train_size \(task option trainSize, now 5000\)$/);
    expect(() => new CountdownTask({ testSize: -1 })).toThrow(/option 'testSize' must be >= 0/);
    expect(() => new ArithTask({ trainSize: 2.5 })).toThrow(/option 'trainSize' must be an integer/);
    expect(() => new ArithTask({ trainSize: 1e7 })).toThrow(/option 'trainSize' must be <= 1000000/);
  });

  it("a pipeline's train_size and test_size reach the task; train_size defaults to 0 (on demand), test_size to 200", () => {
    const load = (task: string) => {
      const text = `pipeline p {\n  model "m"\n  task ${task}\n  rollout { prompts 2 group 2 temperature 1 max_tokens 8 }\n  optimizer adamw { lr 1e-3 }\n  advantage = r\n  stage s until steps >= 1 { kl 0 }\n  loss ppo_clip { eps_low 0.2 eps_high 0.2 aggregate token_mean }\n}\n`;
      const r = loadPipeline("/tmp/split-size.acpo", { text });
      if (!r.pipeline) throw new Error(formatAll(r));
      return taskFromPipeline(r.pipeline.task, "/tmp");
    };
    const sized = load("countdown { numbers 3..3  values 1..9  target 1..30  train_size 300  test_size 50 }");
    expect([sized.size("train"), sized.size("test")]).toEqual([300, 50]);
    expect(() => sized.problems("test", 51, 0)).toThrow(/the test split holds 50/);
    const defaults = load("countdown { numbers 3..3  values 1..9  target 1..30 }");
    expect([defaults.size("train"), defaults.size("test")]).toEqual([null, 200]);
  });
});
