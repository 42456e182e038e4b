// From a pipeline's task spec (a name and its options) to a Task.
import { ArithTask, readArithOptions } from "./arith.js";
import { CountdownTask, readCountdownOptions } from "./countdown.js";
import { JsonlTask } from "./jsonl.js";
import { ParquetTask } from "./parquet.js";
import { TaskSpecError, type Problem, type Task } from "./types.js";

export interface TaskSpec {
  name: string;
  /** Option values as the pipeline wrote them; ranges as [lo, hi]. Omitted options take defaults. */
  options?: Readonly<Record<string, unknown>>;
}

export interface TaskContext {
  /** Relative dataset paths resolve against this folder (the pipeline file's folder). */
  baseDir?: string;
}

const BUILDERS: Record<string, (options: Readonly<Record<string, unknown>>, ctx: TaskContext) => Task<Problem>> = {
  countdown: (o) => new CountdownTask(readCountdownOptions(o)),
  arith: (o) => new ArithTask(readArithOptions(o)),
  jsonl: (o, ctx) => new JsonlTask(o, ctx.baseDir),
  parquet: (o, ctx) => new ParquetTask(o, ctx.baseDir),
};

/** Names taskFromSpec accepts. */
export const TASK_NAMES: readonly string[] = Object.keys(BUILDERS);

export function taskFromSpec(spec: TaskSpec, ctx: TaskContext = {}): Task<Problem> {
  // Own keys only: a name like "constructor" must not reach Object.prototype.
  const build = Object.hasOwn(BUILDERS, spec.name) ? BUILDERS[spec.name] : undefined;
  if (build === undefined) {
    throw new TaskSpecError(`unknown task '${spec.name}'; known tasks: ${TASK_NAMES.join(", ")}`);
  }
  const options = spec.options ?? {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TaskSpecError(`task ${spec.name}: options must be an object of name: value`);
  }
  return build(options, ctx);
}
