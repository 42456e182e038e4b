// Stage `until` conditions and curriculum `priority` expressions, evaluated by the IR
// interpreter, the same definition the compiled kernels are tested against, so a condition
// means in the loop what it means everywhere else.
//
// Compilation lowers each expression into its own small program (compiler/plan/artifact.ts:
// ExprProgram, stored in plan.json); per optimizer step the loop builds the interpreter's
// Batch from that step's trajectories and counters and evaluates the program on it:
//   until     a batch-level condition, evaluated after each optimizer step; NaN counts as false
//             (e.g. a mean over no tokens), so a stage never ends on a value it could not compute
//   priority  a group-level number per prompt group, from the group just sampled
// Counters: `steps` = optimizer steps completed in the current stage (including this one),
// `total_steps` = completed in the whole run.
import { type Batch, evaluateProgram, type ExprProgram, rowsBatch } from "../../../compiler/plan/artifact.js";
import type { Stage } from "../../../compiler/index.js";
import { type StepBatch, stepBatchOf } from "./step-batch.js";
import type { Trajectory } from "./types.js";

export interface Counters {
  /** Optimizer steps completed in the current stage. */
  steps: number;
  /** Optimizer steps completed in the run. */
  totalSteps: number;
}

/**
 * Per-token values of the current policy, one array per trajectory (each of its response
 * length). Without them, logp is the rollout's old_logp and H the rollout entropy.
 */
export interface CurrentValues {
  logp?: readonly ArrayLike<number>[];
  entropy?: readonly ArrayLike<number>[];
  refLogp?: readonly ArrayLike<number>[] | null;
  /** u32 seed of `rand`. Default 0. */
  seed?: number;
}

export interface TrajectoryBatch {
  batch: Batch;
  /** Group id (Trajectory.group) of each batch group 0..nGroups-1, increasing. */
  groupIds: number[];
  logp: Float64Array; // (B*T)
  H: Float64Array; // (B*T)
}

function perToken(name: string, arrays: readonly ArrayLike<number>[] | undefined | null, trajs: readonly Trajectory[], fallback: (t: Trajectory) => ArrayLike<number>): ArrayLike<number>[] {
  if (arrays && arrays.length !== trajs.length) throw new Error(`until: ${arrays.length} ${name} arrays for ${trajs.length} trajectories`);
  return trajs.map((t, i) => {
    const a = arrays ? arrays[i]! : fallback(t);
    if (a.length !== t.responseIds.length) throw new Error(`until: trajectory ${i} has ${t.responseIds.length} tokens but ${a.length} ${name} values`);
    return a;
  });
}

/**
 * The interpreter's batch for one optimizer step: the rows of the step's CPU batch
 * (step-batch.ts; built here from plain trajectories), laid out by rowsBatch as replay lays
 * out a batch file, with the current policy's per-token values (default: the rollout's
 * old_logp, and its entropies as H) and the counters.
 */
export function trajectoryBatch(of: StepBatch | readonly Trajectory[], counters: Counters, cur: CurrentValues = {}): TrajectoryBatch {
  const { trajs, rows } = stepBatchOf(of);
  const policy = {
    logp: perToken("logp", cur.logp, trajs, (t) => t.oldLogp),
    H: perToken("entropy", cur.entropy, trajs, (t) => t.entropies),
    refLogp: cur.refLogp ? perToken("ref_logp", cur.refLogp, trajs, () => []) : null,
  };
  const { batch, groupIds } = rowsBatch(rows, policy, { ...counters, seed: cur.seed ?? 0 });
  return { batch, groupIds, logp: batch.logp!, H: batch.H! };
}

/** A compiled expression with the params it reads (the pipeline's, after `--set`). */
class Program {
  constructor(private readonly prog: ExprProgram, private readonly params: Record<string, number>) {}

  run(tb: TrajectoryBatch): Float64Array {
    try {
      return evaluateProgram(this.prog, tb.batch, { params: this.params, logp: tb.logp, H: tb.H });
    } catch (e) {
      // The one input a caller can forget: ref_logp for an expression that reads it.
      const msg = e instanceof Error ? e.message : String(e);
      throw msg.includes("ref_logp") ? new Error(`${msg} (pass refLogp in the current values)`) : e;
    }
  }
}

/** A stage's `until` condition. */
export class StageCondition {
  private readonly expr: Program;

  /** `until`: the stage's compiled condition (Artifact.programs); `params`: the values it reads. */
  constructor(until: ExprProgram, params: Record<string, number>) {
    this.expr = new Program(until, params);
  }

  /** Whether the stage is done after this optimizer step. */
  holds(trajs: StepBatch | readonly Trajectory[], counters: Counters, cur: CurrentValues = {}): boolean {
    return this.holdsOn(trajectoryBatch(trajs, counters, cur));
  }

  holdsOn(tb: TrajectoryBatch): boolean {
    const v = this.expr.run(tb)[0]!;
    return !Number.isNaN(v) && v !== 0;
  }
}

export interface GroupPriority {
  group: number;
  /** The group's problem (the first trajectory's), which the curriculum ranks. */
  problemId: string;
  priority: number;
}

/** A `sample curriculum` stage's priority: one number per prompt group. */
export class CurriculumPriority {
  private readonly expr: Program;
  /** Priority of prompts never sampled. */
  readonly unseen: number;

  /** `priority`: the stage's compiled priority (Artifact.programs), null unless it samples by curriculum. */
  constructor(stage: Stage, priority: ExprProgram | null, params: Record<string, number>) {
    if (stage.sampling.kind !== "curriculum" || !priority) throw new Error(`stage ${stage.name} does not sample by curriculum`);
    this.expr = new Program(priority, params);
    this.unseen = stage.sampling.unseen;
  }

  /** Priorities of the groups in `trajs`, in increasing group id. */
  ofGroups(trajs: readonly Trajectory[], counters: Counters, cur: CurrentValues = {}): GroupPriority[] {
    const tb = trajectoryBatch(trajs, counters, cur);
    const v = this.expr.run(tb);
    return tb.groupIds.map((g, i) => ({
      group: g,
      problemId: trajs.find((t) => t.group === g)!.problem.id,
      // A scalar or batch-level priority is the same for every group.
      priority: v.length === 1 ? v[0]! : v[i]!,
    }));
  }
}
