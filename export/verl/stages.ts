// The stage chain of an exported pipeline: which stages run in which order, how many
// optimizer steps each takes (verl needs trainer.total_training_steps up front), and each
// stage's `until` lowered to Python by the PyTorch back end, so the ACPO trainer decides
// the switch from the same graph the interpreter evaluates. Only conditions on the step
// counters export: verl's driver holds no batch statistics when it has to decide.
import { lowerExpr, type ExprProgram } from "../../compiler/plan/artifact.js";
import { interpretGraph } from "../../compiler/interpret/eval.js";
import type { Batch } from "../../compiler/interpret/batch.js";
import type { Pipeline, Stage } from "../../compiler/pipeline.js";
import { at, inputsRead, stepsBudget } from "./check.js";

/** Inputs an exported `until` may read: the stage's and the run's step counters. */
export const UNTIL_INPUTS = new Set(["steps", "total_steps"]);

/** The most steps a stage may take before the exporter calls its `until` unreachable. */
export const MAX_STAGE_STEPS = 100_000;

/** The stages in the order they run: the first, then each one's `next` (acyclic: E0501). */
export function stageChain(p: Pipeline): Stage[] {
  const out: Stage[] = [];
  let s: Stage | undefined = p.stages[0];
  while (s && !out.includes(s)) {
    out.push(s);
    const next: string | null = s.next;
    s = next === null ? undefined : p.stages.find((x) => x.name === next);
  }
  return out;
}

/** A batch with no responses: all an `until` on counters reads is `steps` and `total_steps`. */
function counterBatch(steps: number, totalSteps: number): Batch {
  const f = () => new Float64Array(0);
  return {
    B: 0, T: 1, S: 1, nGroups: 0, group: new Int32Array(0), reward: f(), correct: f(), format: f(), length: f(),
    stepIdx: new Int32Array(0), ids: new Int32Array(0), oldLogp: f(), refLogp: null, C: f(), stepLength: f(), stepEntropy: f(),
    V: 1, temperature: 1, logits: null, logp: f(), H: f(), steps, totalSteps, seed: 0,
  };
}

/** The condition's value after a step: true when the stage ends (NaN counts as false, as in the loop). */
export function untilHolds(prog: ExprProgram, params: Record<string, number>, steps: number, totalSteps: number): boolean {
  const v = interpretGraph(prog.nodes, counterBatch(steps, totalSteps), { params, logp: new Float64Array(0), H: new Float64Array(0) })[prog.root]![0]!;
  return !Number.isNaN(v) && v !== 0;
}

export interface StageSpan {
  stage: Stage;
  until: ExprProgram;
  /** Optimizer steps the stage runs. */
  steps: number;
  /** Total steps of the run when it starts. */
  start: number;
}

/**
 * Each stage's steps, found by evaluating its `until` after every step as the loop does
 * (runtime/loop/rl/stages.ts); a string (the refusal) when a condition reads more than the
 * counters or does not hold within MAX_STAGE_STEPS.
 */
export function stageSpans(p: Pipeline): StageSpan[] | string[] {
  const params = Object.fromEntries(p.params.map((q) => [q.name, q.value]));
  const chain = stageChain(p);
  const refusals: string[] = [];
  const progs = chain.map((s) => {
    const prog = lowerExpr(p, s.until);
    const bad = inputsRead(prog.nodes, [prog.root]).filter((n) => !UNTIL_INPUTS.has(n));
    if (bad.length > 0) {
      refusals.push(`stage ${s.name} (${at(s.until.span)}): \`until\` reads ${bad.map((n) => `\`${n}\``).join(", ")}: the exported trainer decides the stage on verl's driver from the step counters only (\`steps\`, \`total_steps\`), and verl needs the run's length up front (trainer.total_training_steps); write the condition on the counters to export`);
    }
    return prog;
  });
  if (refusals.length > 0) return refusals;
  const spans: StageSpan[] = [];
  let total = 0;
  for (const [i, s] of chain.entries()) {
    const start = total;
    // `steps >= N` (the common form) directly; any other condition step by step.
    const n = stepsBudget(s.until);
    let steps = n !== null && n >= 1 ? Math.ceil(n) - 1 : 0;
    total += steps;
    do {
      steps++;
      total++;
    } while (steps < MAX_STAGE_STEPS && !untilHolds(progs[i]!, params, steps, total));
    if (!untilHolds(progs[i]!, params, steps, total)) {
      return [`stage ${s.name} (${at(s.until.span)}): \`until\` does not hold within ${MAX_STAGE_STEPS} steps of the stage, and verl needs the run's length up front (trainer.total_training_steps)`];
    }
    spans.push({ stage: s, until: progs[i]!, steps, start });
  }
  return spans;
}
