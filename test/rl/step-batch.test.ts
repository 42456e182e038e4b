// One CPU batch per optimizer step (runtime/loop/rl/step-batch.ts): the same trajectories give the
// same step table in every view — the interpreter's batch (`until`, `priority`), the GPU
// upload of the update, samples.jsonl lines and replay's reading of those lines — and an
// empty step holds 0 in all of them (spec/batch.md, "Steps").
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readBatchFile } from "../../compiler/plan/batch-file.js";
import { K_SEQ, K_STP, SEQ_COLUMNS, STEP_COLUMNS, type Batch } from "../../compiler/plan/artifact.js";
import { buildBatch } from "../../runtime/loop/rl/batch.js";
import { stepMetrics } from "../../runtime/loop/rl/metrics.js";
import { jsonLine } from "../../runtime/loop/run/run-dir-jsonl.js";
import { sampleLine } from "../../runtime/loop/run/run-dir-samples.js";
import { StepBatch, stepTable } from "../../runtime/loop/rl/step-batch.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";
import { trajectoryBatch } from "../../runtime/loop/rl/until.js";
import { testGpu } from "../helpers/gpu.js";

function traj(group: number, entropies: number[], reward: number, o: { starts?: number[]; C?: number[]; stepRewards?: number[]; mcValues?: number[]; prompt?: number[] } = {}): Trajectory {
  const L = entropies.length;
  return {
    problem: { id: `q${group}`, split: "train", prompt: "p" },
    group,
    promptIds: o.prompt ?? [1],
    responseIds: entropies.map((_, t) => 20 + t),
    oldLogp: entropies.map((_, t) => -0.5 - 0.125 * t),
    entropies,
    text: "",
    verdict: { reward, correct: reward === 1, answer: reward === 1 ? "7" : null, reason: "" },
    segmentation: o.starts ? { boundaries: [...o.starts, L], answer: null, reasoningSteps: o.starts.length } : null,
    C: o.C ?? [],
    ...(o.stepRewards ? { stepRewards: o.stepRewards } : {}),
    ...(o.mcValues ? { mcValues: o.mcValues } : {}),
  };
}

// Steps of 2+3+1, 1+2 and 4 tokens; group ids 3 and 8; prompts of different lengths; every
// trajectory with step rewards and Monte-Carlo values, so every step column is given.
const TRAJS = [
  traj(3, [0.5, 0.25, 1, 0.75, 0.5, 2], 1, { starts: [0, 2, 5], C: [0.5, -0.25], stepRewards: [1, 0, 1], mcValues: [0.5, 0.25, 0.75], prompt: [1, 2, 3] }),
  traj(3, [0.125, 0.5, 0.25], 0, { starts: [0, 1], C: [0.125, 0.375], stepRewards: [0, 0], mcValues: [0.5, 0] }),
  traj(8, [1, 1, 0.5, 0.5], 1, { C: [0.25], stepRewards: [1], mcValues: [1], prompt: [1, 2] }),
];

/** The step columns of an interpreter batch, slot i*S + k, in STEP_COLUMNS order. */
function interpreterSteps(b: Batch): number[][] {
  const col = { C: b.C, length: b.stepLength, entropy: b.stepEntropy, reward: b.stepReward, mcValue: b.mcValue, mcNext: b.mcNext, judge: b.judgeScore };
  return Array.from({ length: b.B * b.S }, (_, j) => STEP_COLUMNS.map((c) => Math.fround(col[c]?.[j] ?? NaN)));
}

const rowsOf = (flat: Float32Array, K: number) => Array.from({ length: flat.length / K }, (_, j) => Array.from(flat.subarray(j * K, j * K + K)));

describe("the step's CPU batch and its views", () => {
  it("gives the GPU upload, the interpreter's batch and replayed samples lines the same step table", async () => {
    const gpu = await testGpu();
    const batch = new StepBatch(TRAJS);
    const mine = trajectoryBatch(batch, { steps: 2, totalSteps: 5 }).batch;
    const up = buildBatch(gpu, batch);
    try {
      expect({ S: up.S, NG: up.NG }).toEqual({ S: mine.S, NG: mine.nGroups });
      // Step columns: the GPU's (B*S, K_STP) table is the interpreter's, value for value (float32).
      const gpuSteps = rowsOf(await gpu.read(up.steps), K_STP);
      const cpuSteps = interpreterSteps(mine);
      STEP_COLUMNS.forEach((c, j) => {
        if (c !== "judge") expect(gpuSteps.map((r) => r[j]), c).toEqual(cpuSteps.map((r) => r[j]));
      });
      expect(gpuSteps.map((r) => r[STEP_COLUMNS.indexOf("length")])).toEqual([2, 3, 1, 1, 2, 0, 4, 0, 0]);
      expect(gpuSteps.map((r) => r[STEP_COLUMNS.indexOf("mcNext")])).toEqual([0.25, 0.75, 1, 0, 0, 0, 1, 0, 0]);
      // Sequences: reward, correct, length, group index (increasing group id), format.
      const seq = rowsOf(await gpu.read(up.seq), K_SEQ);
      const cpuSeq = { r: mine.reward, correct: mine.correct, length: mine.length, group: mine.group, format: mine.format };
      SEQ_COLUMNS.forEach((c, j) => expect(seq.map((r) => r[j]), c).toEqual(Array.from(cpuSeq[c])));
      // Tokens: each response token's step at its target slot (after the prompt) equals the interpreter's at slot i*T + t.
      const tstep = new Int32Array((await gpu.readU32(up.tstep)).buffer);
      TRAJS.forEach((t, i) => {
        const first = i * up.T + t.promptIds.length - 1;
        expect(Array.from(tstep.subarray(first, first + t.responseIds.length))).toEqual(Array.from(mine.stepIdx.subarray(i * mine.T, i * mine.T + t.responseIds.length)));
      });
    } finally {
      up.release();
    }
    // samples.jsonl lines of the same rows, read back by replay's parser: the same batch.
    const path = join(mkdtempSync(join(tmpdir(), "acpo-step-batch-")), "samples.jsonl");
    writeFileSync(path, TRAJS.map((t, i) => jsonLine(sampleLine(t, { logp: t.oldLogp, entropy: t.entropies }, { step: 5, stage: "s" }, batch.rows[i]))).join(""));
    const file = readBatchFile(path).batch;
    expect(interpreterSteps(file)).toEqual(interpreterSteps(mine));
    for (const k of ["group", "reward", "correct", "format", "length", "stepIdx", "ids", "oldLogp", "logp", "H"] as const) expect(Array.from(file[k]!), k).toEqual(Array.from(mine[k]!));
  });

  it("holds 0 in every view for an empty step: an empty response's one step and the slots past a response's last step", async () => {
    const gpu = await testGpu();
    const empty = traj(3, [], 0, { starts: [0], stepRewards: [1], mcValues: [0.5] });
    const full = traj(3, [0.5, 1, 0.75], 1, { starts: [0, 1], stepRewards: [1, 0], mcValues: [0.5, 1] });
    const batch = new StepBatch([empty, full]);
    const tab = batch.rows[0]!.steps;
    expect(tab).toEqual({ starts: [0], lengths: [0], entropy: [0], C: [0], reward: [0], mcValue: [0], mcNext: [0], judge: null });
    const mine = trajectoryBatch(batch, { steps: 0, totalSteps: 0 }).batch;
    const up = buildBatch(gpu, batch);
    try {
      const gpuSteps = rowsOf(await gpu.read(up.steps), K_STP);
      // Slot 0 (the empty response's step) and slot 1 (past its last step): 0 in every column
      // but judge, which no trajectory has (NaN in the GPU's table, absent in the interpreter's).
      for (const j of [0, 1]) {
        expect(gpuSteps[j]!.slice(0, STEP_COLUMNS.indexOf("judge")), `GPU slot ${j}`).toEqual([0, 0, 0, 0, 0, 0]);
        expect(interpreterSteps(mine)[j]!.slice(0, STEP_COLUMNS.indexOf("judge")), `interpreter slot ${j}`).toEqual([0, 0, 0, 0, 0, 0]);
      }
      expect(mine.judgeScore).toBeNull();
    } finally {
      up.release();
    }
    // The samples line of an empty response (the loop leaves such lines out) says the same: entropy 0, not NaN.
    expect(sampleLine(empty, { logp: [], entropy: [] }, { step: 1, stage: "s" }).step_entropy).toEqual([0]);
  });

  it("counts steps per response in the metrics as the step table does, an empty response as one step", () => {
    // Boundaries with an empty step in the middle ([3, 3)) and one past the end (segment()
    // never writes these, but a Trajectory may hold them): the table drops both.
    const odd = { ...traj(3, [0.5, 0.5, 0.5, 1, 1], 1), segmentation: { boundaries: [0, 3, 3, 5, 5], answer: null, reasoningSteps: 3 } };
    const empty = traj(3, [], 0, { starts: [0] });
    const trajs = [odd, empty, TRAJS[0]!];
    expect(trajs.map((t) => stepTable(t).starts.length)).toEqual([2, 1, 3]);
    const times = { rollout: 0, verify: 0, segmentAttribution: 0, update: 0, total: 1 };
    expect(stepMetrics(1, "s", trajs, trajs, null, { gradNorm: 0, lr: 0, skipped: 0, times }).steps_per_response).toBe(2);
  });

  it("derives each row once: a minibatch reuses the step's rows, and refuses a trajectory from elsewhere", () => {
    const batch = new StepBatch(TRAJS);
    const mini = batch.subset([TRAJS[2]!, TRAJS[0]!]);
    expect(mini.rows[0]).toBe(batch.rows[2]);
    expect(mini.rows[1]).toBe(batch.rows[0]);
    expect(mini.rows[0]!.steps).toEqual(stepTable(TRAJS[2]!));
    expect(() => batch.subset([traj(1, [0.5], 1)])).toThrow("StepBatch.subset: a trajectory that is not in the batch");
  });
});
