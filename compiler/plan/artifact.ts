// The compiled artifact: everything the training loop evaluates, produced by compilation,
// and the only part of the compiler behind the front end (compiler/index.ts) that the
// layers above it (runtime/loop/rl, runtime/loop/eval, ...) may import (test/architecture.test.ts).
//
//   const art = compileArtifact(pipeline);        // `acpo train FILE`: compiled in memory
//   const art = loadPlan(dir, { set });           // `acpo run DIR`: read from a plan folder
//   new StageRunner(gpu, art.stages.get(name)!)   // the stage's loss kernels
//   evaluateProgram(art.programs.get(name)!.until, batch, { params, logp, H })
//
// Per stage the artifact holds its kernels (StageKernels, run on the GPU by StageRunner)
// and the lowered IR of its `until` condition and curriculum `priority` (ExprProgram,
// evaluated on the CPU by the IR interpreter, the same definition the kernels are tested
// against). Programs are plain data: a plan folder stores them in plan.json.
import type { Expr } from "../ast.js";
import { generateStage, type StageKernels } from "../codegen/index.js";
import { DEFAULT_SCHEDULE, type Schedule } from "../codegen/schedule.js";
import type { Batch } from "../interpret/batch.js";
import { interpretGraph } from "../interpret/eval.js";
import { Graph } from "../ir/graph.js";
import { Lowering } from "../ir/lower.js";
import type { Node } from "../ir/ops.js";
import { lowerStage } from "../ir/stage.js";
import type { Pipeline, Stage } from "../pipeline.js";

export { StageRunner, packSequences, packSteps, type StageInputs, type StageOutputs, type StageDims } from "../codegen/runner.js";
export type { StageKernels } from "../codegen/index.js";
export { SUMMARY_FIELDS, type Summary } from "../interpret/summary.js";
export { minibatchSeed } from "../interpret/rand.js";
export type { Batch } from "../interpret/batch.js";
/** A batch as rows with their step tables, and its views (the interpreter's Batch, the kernels' step columns). */
export { rowsBatch, seqColumns, stepColumns, stepSlots, stepTableFrom, tokenSteps, type BatchCounters, type BatchRow, type RowPolicy, type StepTable } from "../interpret/batch-rows.js";
export { plannedSteps } from "./step-budget.js";
/** A stage interpreted (or run) on recorded trajectories: `acpo replay` and the report's credit view. */
export { replay, type ReplayJson } from "./replay.js";
export { BatchError, batchFromRecords, type BatchFile } from "./batch-file.js";
/** The one packing of batch rows into the kernels' inputs: the training step's and replay's. */
export { packRows, uploadPacked, type PackedInputs } from "../codegen/upload.js";
/** The loss head's per-token columns (tok is (N, K_TOK) in TOK_COLUMNS order). */
export { K_SEQ, K_STP, K_TOK, SEQ_COLUMNS, STEP_COLUMNS, TOK_COLUMNS } from "../codegen/layout.js";

/** One expression lowered on its own: its IR nodes and the node holding its value. */
export interface ExprProgram {
  nodes: Node[];
  root: number;
}

/** The CPU-evaluated programs of one stage. */
export interface StagePrograms {
  /** The stage's `until` condition (batch level; nonzero = done). */
  until: ExprProgram;
  /** The curriculum `priority` (group level) of a `sample curriculum` stage, else null. */
  priority: ExprProgram | null;
}

/** What the training loop runs: the resolved pipeline, and per stage its kernels and programs. */
export interface Artifact {
  pipeline: Pipeline;
  stages: Map<string, StageKernels>;
  programs: Map<string, StagePrograms>;
}

/** Lower one expression of `p` into its own graph. */
export function lowerExpr(p: Pipeline, e: Expr): ExprProgram {
  const g = new Graph();
  const root = new Lowering(g, p).expr(e);
  return { nodes: g.nodes, root };
}

/** The `until` and `priority` programs of stage `s`. */
export function lowerStagePrograms(p: Pipeline, s: Stage): StagePrograms {
  return { until: lowerExpr(p, s.until), priority: s.sampling.kind === "curriculum" ? lowerExpr(p, s.sampling.priority) : null };
}

/** Compile every stage of `p` in memory (what `acpo compile` writes to a plan folder). */
export function compileArtifact(p: Pipeline, schedule: Schedule = DEFAULT_SCHEDULE): Artifact {
  const stages = new Map<string, StageKernels>();
  const programs = new Map<string, StagePrograms>();
  for (const s of p.stages) {
    stages.set(s.name, generateStage(lowerStage(p, s), schedule));
    programs.set(s.name, lowerStagePrograms(p, s));
  }
  return { pipeline: p, stages, programs };
}

/** The values of the pipeline's params by name (after `--set`): what programs read. */
export function paramValues(p: Pipeline): Record<string, number> {
  return Object.fromEntries(p.params.map((q) => [q.name, q.value]));
}

/** Inputs of a program besides the batch: params, and the current policy's per-token logp and H (B*T). */
export interface ProgramEnv {
  params: Record<string, number>;
  logp: Float64Array;
  H: Float64Array;
}

/** The value of `prog` over `batch`: one number per element of the root's level. */
export function evaluateProgram(prog: ExprProgram, batch: Batch, env: ProgramEnv): Float64Array {
  return interpretGraph(prog.nodes, batch, env)[prog.root]!;
}
