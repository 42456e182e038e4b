// The CPU batch of one optimizer step: the step's trajectories as batch rows
// (compiler/interpret/batch-rows.ts, through the artifact), each row's step table derived
// once. The trainer builds it after attribution and Monte-Carlo values have filled the
// trajectories; its views are the GPU tensors of the update (batch.ts buildBatch), the
// interpreter's batch for `until` and `priority` (until.ts trajectoryBatch) and the
// samples.jsonl lines (run-dir-samples.ts sampleLine). Step metrics count steps the same way.
import { type BatchRow, stepTableFrom, type StepTable } from "../../../compiler/plan/artifact.js";
import type { Trajectory } from "./types.js";

/**
 * First token of each step: the segmentation's boundaries without the final end (b_K = L),
 * or [0] (one step) when the pipeline does not segment. Boundaries equal to L (an empty
 * last step) are dropped so every start lies inside the response; an empty response has
 * the one step [0], of length 0.
 */
export function stepStarts(t: Trajectory): number[] {
  const L = t.responseIds.length;
  if (!t.segmentation) return [0];
  const starts = t.segmentation.boundaries.filter((b, i) => b < L && (i === 0 || b > t.segmentation!.boundaries[i - 1]!));
  return starts.length > 0 && starts[0] === 0 ? starts : [0, ...starts];
}

/**
 * Attribution per step: the trajectory's C (scored reasoning steps); the step table pads the
 * steps attribution does not score (the answer step) with 0, as the batch format's default
 * C is 0. Null when attribution is off (C = []).
 */
function stepC(t: Trajectory, K: number): number[] | null {
  if (t.C.length === 0) return null;
  if (t.C.length > K) throw new Error(`samples: trajectory has ${t.C.length} attribution scores but ${K} steps`);
  return t.C;
}

/** A per-step value the loop fills (one per stepStarts step), or null when absent. Throws when the count disagrees (a loop bug). */
function perStep(values: number[] | undefined, what: string, K: number): number[] | null {
  if (values === undefined) return null;
  if (values.length !== K) throw new Error(`samples: trajectory has ${values.length} ${what} but ${K} steps`);
  return values;
}

/** The trajectory's step table (compiler/interpret/batch-rows.ts: stepTableFrom, the one derivation). */
export function stepTable(t: Trajectory): StepTable {
  const starts = stepStarts(t);
  const K = starts.length;
  return stepTableFrom({
    L: t.responseIds.length,
    starts,
    C: stepC(t, K),
    stepEntropy: null,
    tokenEntropy: t.entropies, // the sampling policy's: mean rollout entropy
    reward: perStep(t.stepRewards, "step rewards", K),
    mcValue: perStep(t.mcValues, "Monte-Carlo values", K),
    judge: perStep(t.judgeScores, "judge scores", K),
    finalReward: t.verdict.reward,
  });
}

/** The trajectory as a batch row: response tokens, the sampler's log-probs, the verdict and the step table. */
export function batchRow(t: Trajectory): BatchRow {
  return {
    group: t.group,
    reward: t.verdict.reward,
    correct: t.verdict.correct,
    format: t.verdict.answer !== null ? 1 : 0, // the verifier found a complete answer
    tokens: t.responseIds,
    oldLogp: t.oldLogp,
    rolloutLogp: null, // the sampler's log-probs are oldLogp
    steps: stepTable(t),
  };
}

/** One optimizer step's trajectories with their rows, each derived once; a minibatch is a subset. */
export class StepBatch {
  readonly rows: readonly BatchRow[];

  constructor(readonly trajs: readonly Trajectory[], rows?: readonly BatchRow[]) {
    if (rows && rows.length !== trajs.length) throw new Error(`StepBatch: ${rows.length} rows for ${trajs.length} trajectories`);
    this.rows = rows ?? trajs.map(batchRow);
  }

  /** The rows of `trajs`, each one of this batch's trajectories (e.g. a minibatch), in their order; no step table is derived again. */
  subset(trajs: readonly Trajectory[]): StepBatch {
    const index = new Map(this.trajs.map((t, i) => [t, i]));
    return new StepBatch(trajs, trajs.map((t) => {
      const i = index.get(t);
      if (i === undefined) throw new Error("StepBatch.subset: a trajectory that is not in the batch");
      return this.rows[i]!;
    }));
  }
}

/** The batch of `b`: itself, or a new one over plain trajectories (tests, one-off callers). */
export function stepBatchOf(b: StepBatch | readonly Trajectory[]): StepBatch {
  return b instanceof StepBatch ? b : new StepBatch(b);
}
