// The pipeline's task block (compiler/pipeline.ts) as a runtime Task (runtime/engine/tasks).
import type { TaskSettings } from "../../../compiler/index.js";
import { taskFromSpec } from "../../engine/tasks/registry.js";
import type { Task } from "../../engine/tasks/types.js";

export function taskFromPipeline(t: TaskSettings, baseDir: string): Task {
  switch (t.kind) {
    case "countdown":
      return taskFromSpec({ name: "countdown", options: { numbers: t.numbers, values: t.values, target: t.target, trainSize: t.trainSize, testSize: t.testSize } }, { baseDir });
    case "arithmetic":
      // The language counts operands and names operations; the task counts operations
      // (operands - 1) and writes them as symbols.
      return taskFromSpec({ name: "arith", options: { steps: [t.operands[0] - 1, t.operands[1] - 1], values: t.values, maxValue: t.maxValue, ops: t.ops.map(opSymbol), trainSize: t.trainSize, testSize: t.testSize } }, { baseDir });
    case "jsonl":
    case "parquet":
      return taskFromSpec({ name: t.kind, options: { train: t.train, ...(t.test ? { test: t.test } : {}), verifier: t.verifier, promptField: t.promptField, answerField: t.answerField } }, { baseDir });
  }
}

const OP_SYMBOLS: Readonly<Record<string, string>> = { add: "+", sub: "-", mul: "*", div: "/" };

function opSymbol(op: string): string {
  const sym = OP_SYMBOLS[op];
  if (!sym) throw new Error(`internal: the checker let through the arithmetic operation '${op}'`);
  return sym;
}
