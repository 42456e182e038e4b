// The pipeline's task block (compiler/pipeline.ts) as a runtime Task (runtime/tasks).
import type { Task as TaskSpecOfPipeline } from "../../compiler/index.js";
import { taskFromSpec } from "../tasks/registry.js";
import type { Task } from "../tasks/types.js";

export function taskFromPipeline(t: TaskSpecOfPipeline, baseDir: string): Task {
  switch (t.kind) {
    case "countdown":
      return taskFromSpec({ name: "countdown", options: { numbers: t.numbers, values: t.values, target: t.target, trainSize: t.trainSize, testSize: t.testSize } }, { baseDir });
    case "arithmetic":
      // The language counts operands; the task counts operations (operands - 1).
      return taskFromSpec({ name: "arith", options: { steps: [t.operands[0] - 1, t.operands[1] - 1], values: t.values, ops: t.ops, trainSize: t.trainSize, testSize: t.testSize } }, { baseDir });
    case "jsonl":
      return taskFromSpec({ name: "jsonl", options: { train: t.train, ...(t.test ? { test: t.test } : {}), verifier: t.verifier } }, { baseDir });
  }
}
