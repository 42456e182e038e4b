// Before `acpo compare` trains anything: the pipelines must differ only in method, not in
// what they are measured on. Same model, task, rollout budget, number of steps and
// evaluation; otherwise the comparison would be meaningless, so it stops with an error that
// names the setting and the files.
import type { Pipeline } from "../../../compiler/index.js";
import { plannedSteps } from "../../../compiler/plan/artifact.js";

export class CompareError extends Error {
  override name = "CompareError";
}

export interface ComparedPipeline {
  file: string;
  pipeline: Pipeline;
}

/** The settings that must agree, by display name. */
function budget(p: Pipeline): Record<string, unknown> {
  // Which metrics are printed may differ (the table shows those all runs have).
  const ev = p.evals.map((e) => ({ split: e.split, problems: e.problems, samples: e.samples, temperature: e.temperature, topP: e.topP, maxTokens: e.maxTokens }));
  return {
    model: p.model.path,
    task: p.task,
    "rollout.prompts": p.rollout.prompts,
    "rollout.group": p.rollout.group,
    "rollout.max_tokens": p.rollout.maxTokens,
    // The final evaluation is what the table reports; every pipeline must be scored alike.
    "eval (split, problems, samples, temperature, top_p, max_tokens)": ev.at(-1) ?? null,
  };
}

const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/**
 * Check that the pipelines can be compared and return the number of steps every run takes
 * (`steps` when given, else the stages' own end, which must then be the same for all).
 */
export function checkComparable(items: readonly ComparedPipeline[], steps?: number): number {
  if (items.length < 2) throw new CompareError("compare needs at least two pipelines");
  for (const { file, pipeline } of items)
    if (pipeline.evals.length === 0) throw new CompareError(`${file}: pipeline ${pipeline.name} has no eval block; compare reports the final Acc@k and pass@k, so every pipeline needs one`);
  const [first, ...rest] = items as [ComparedPipeline, ...ComparedPipeline[]];
  const ref = budget(first.pipeline);
  for (const other of rest) {
    const b = budget(other.pipeline);
    for (const key of Object.keys(ref)) {
      if (JSON.stringify(ref[key]) !== JSON.stringify(b[key]))
        throw new CompareError(
          `pipelines disagree on ${key}: ${first.file} has ${show(ref[key])}, ${other.file} has ${show(b[key])}; compare runs every pipeline on the same model, task and budget ` +
            `(to compare them, write a variant of one that extends it with the other's setting: pipeline NAME extends "FILE" { ... })`,
        );
    }
  }
  if (steps !== undefined) {
    if (!Number.isInteger(steps) || steps < 1) throw new CompareError(`--steps must be a positive integer (got ${steps})`);
    return steps;
  }
  const planned = items.map((x) => plannedSteps(x.pipeline));
  const open = items.findIndex((_, i) => planned[i] === null);
  if (open >= 0) throw new CompareError(`${items[open]!.file}: its stages end on a condition, not a step count, so runs could differ in length; give --steps N`);
  const differ = planned.findIndex((n) => n !== planned[0]);
  if (differ >= 0) throw new CompareError(`pipelines disagree on the number of steps: ${first.file} runs ${planned[0]}, ${items[differ]!.file} runs ${planned[differ]}; give --steps N to run all for the same number`);
  return planned[0]!;
}
