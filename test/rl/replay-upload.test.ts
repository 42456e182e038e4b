// One packing of a batch for the stage kernels (compiler/codegen/upload.ts packRows): the
// training step (runtime/loop/rl/batch.ts buildBatch) and replay of the same step's
// samples.jsonl lines (uploadRows, what `acpo replay` uploads) give the kernels the same
// bytes. With one-token prompts the training step's response tokens start at slot 0 of each
// row, as replay's do, so every token tensor is comparable slot for slot; with longer prompts
// the sequence and step tables still are, and each response's token inputs are the same
// bytes shifted by its prompt.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packRows, releaseInputs, uploadRows } from "../../compiler/codegen/upload.js";
import { responseSlots } from "../../compiler/interpret/batch-rows.js";
import { type BatchFile, readBatchFile } from "../../compiler/plan/batch-file.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import { buildBatch } from "../../runtime/loop/rl/batch.js";
import { StepBatch } from "../../runtime/loop/rl/step-batch.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";
import { jsonLine } from "../../runtime/loop/run/run-dir-jsonl.js";
import { sampleLine } from "../../runtime/loop/run/run-dir-samples.js";
import { testGpu } from "../helpers/gpu.js";

function traj(group: number, L: number, reward: number, prompt: number[], o: { starts?: number[]; C?: number[]; stepRewards?: number[]; mcValues?: number[] } = {}): Trajectory {
  return {
    problem: { id: `q${group}`, split: "train", prompt: "p" },
    group,
    promptIds: prompt,
    responseIds: Array.from({ length: L }, (_, t) => 20 + t),
    oldLogp: Array.from({ length: L }, (_, t) => -0.5 - 0.1 * t), // not exact in float32: the packing's rounding is compared too
    entropies: Array.from({ length: L }, (_, t) => 0.3 + 0.07 * t),
    text: "",
    verdict: { reward, correct: reward === 1, answer: reward === 1 ? "7" : null, reason: "" },
    segmentation: o.starts ? { boundaries: [...o.starts, L], answer: null, reasoningSteps: o.starts.length } : null,
    C: o.C ?? [],
    ...(o.stepRewards ? { stepRewards: o.stepRewards } : {}),
    ...(o.mcValues ? { mcValues: o.mcValues } : {}),
  };
}

/**
 * Three, two and one steps (so rows have empty step slots); groups 8 and 3 (renumbered);
 * attribution, step rewards and Monte-Carlo values given, judge scores not: the judge column
 * is absent, which the packing must fill the same way for both callers.
 */
function trajectories(prompts: number[][]): Trajectory[] {
  return [
    traj(8, 6, 1, prompts[0]!, { starts: [0, 2, 5], C: [0.5, -0.25], stepRewards: [1, 0, 1], mcValues: [0.5, 0.25, 0.75] }),
    traj(3, 3, 0, prompts[1]!, { starts: [0, 1], C: [0.125, 0.375], stepRewards: [0, 0], mcValues: [0.5, 0] }),
    traj(8, 4, 1, prompts[2]!, { C: [0.25], stepRewards: [1], mcValues: [1] }),
  ];
}

/** The step's samples.jsonl lines read back as replay reads them. */
function replayFile(batch: StepBatch): BatchFile {
  const path = join(mkdtempSync(join(tmpdir(), "acpo-replay-upload-")), "samples.jsonl");
  writeFileSync(path, batch.trajs.map((t, i) => jsonLine(sampleLine(t, { logp: t.oldLogp, entropy: t.entropies }, { step: 4, stage: "s" }, batch.rows[i]))).join(""));
  return readBatchFile(path);
}

const bytes = async (gpu: Gpu, t: Tensor) => Array.from(await gpu.readU32(t));
const f32Bytes = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe("the training step and replay pack a batch the same way", () => {
  it("give the stage kernels byte-identical inputs for the same trajectories", async () => {
    const gpu = await testGpu();
    const batch = new StepBatch(trajectories([[1], [1], [1]]));
    const file = replayFile(batch);
    const trainer = buildBatch(gpu, batch);
    const replayed = uploadRows(gpu, file.rows, file.policy, file.counters, 1);
    try {
      expect({ B: trainer.B, T: trainer.T, S: trainer.S, NG: trainer.NG }).toEqual({ B: 3, T: 6, S: 3, NG: 2 });
      expect(replayed.dims).toEqual({ B: 3, T: 6, S: 3, NG: 2, V: 0 });
      // What the training step hands the stage kernels (runtime/loop/rl/update.ts): ids are
      // its targets, oldLogp and rolloutLogp the rollout's log-probs.
      expect(await bytes(gpu, replayed.ids)).toEqual(await bytes(gpu, trainer.targets));
      expect(await bytes(gpu, replayed.tstep)).toEqual(await bytes(gpu, trainer.tstep));
      expect(await bytes(gpu, replayed.oldLogp)).toEqual(f32Bytes(trainer.rolloutLogp));
      expect(await bytes(gpu, replayed.rolloutLogp!)).toEqual(f32Bytes(trainer.rolloutLogp));
      expect(await bytes(gpu, replayed.seq)).toEqual(await bytes(gpu, trainer.seq));
      const steps = await bytes(gpu, trainer.steps);
      expect(await bytes(gpu, replayed.steps!)).toEqual(steps);
      // The absent judge column: NaN in each real step, 0 in the empty slots past a row's last step.
      const judge = Array.from({ length: 9 }, (_, j) => new Float32Array(new Uint32Array([steps[j * 7 + 6]!]).buffer)[0]);
      expect(judge).toEqual([NaN, NaN, NaN, NaN, NaN, 0, NaN, 0, 0]);
    } finally {
      trainer.release();
      releaseInputs(gpu, replayed);
    }
  });

  it("lays each row's response after its prompt for the training step, from slot 0 for replay, with the same tables", () => {
    const batch = new StepBatch(trajectories([[1, 2, 3], [1], [1, 2]]));
    const file = replayFile(batch);
    const first = [2, 0, 1];
    const trainer = packRows(batch.rows, { T: 8, first });
    const replayed = packRows(file.rows, responseSlots(file.rows));
    expect({ trainer: trainer.dims, replay: replayed.dims }).toEqual({ trainer: { B: 3, T: 8, S: 3, NG: 2 }, replay: { B: 3, T: 6, S: 3, NG: 2 } });
    expect(f32Bytes(replayed.seq)).toEqual(f32Bytes(trainer.seq));
    expect(f32Bytes(replayed.steps)).toEqual(f32Bytes(trainer.steps));
    batch.trajs.forEach((t, b) => {
      const L = t.responseIds.length;
      const at = (T: number, off: number) => (a: Int32Array | Uint32Array | Float32Array) => Array.from(a.subarray(b * T + off, b * T + off + L));
      const [mine, theirs] = [at(8, first[b]!), at(6, 0)];
      expect(mine(trainer.ids)).toEqual(theirs(replayed.ids));
      expect(mine(trainer.tstep)).toEqual(theirs(replayed.tstep));
      expect(mine(trainer.oldLogp)).toEqual(theirs(replayed.oldLogp));
    });
    expect(Array.from(trainer.tstep.subarray(0, 8))).toEqual([-1, -1, 0, 0, 1, 1, 1, 2]);
  });

  it("leaves the interpreter's Batch to the interpreter: no source file but upload.ts uploads one", () => {
    const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith(".ts") ? [join(dir, n)] : []));
    const callers = ["compiler", "runtime", "cli", "export"].flatMap(files).filter((f) => /\buploadBatch\b/.test(readFileSync(f, "utf8")));
    expect(callers).toEqual(["compiler/codegen/upload.ts"]);
  });
});
