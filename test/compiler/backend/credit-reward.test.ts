// Several reward terms with weights (issue 15): the sequence-level `format` built-in (the
// verifier's format check) from the runtime's trajectories and from recorded batches, and
// examples/multi_reward.acpo's advantage on a hand-made batch in the interpreter and the kernels.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../../compiler/index.js";
import { BatchError, readBatchFile } from "../../../compiler/plan/batch-file.js";
import { replay } from "../../../compiler/plan/replay.js";
import { trajectoryBatch } from "../../../runtime/loop/rl/until.js";
import type { Trajectory } from "../../../runtime/loop/rl/types.js";
import { handBatch, onGpu } from "./hand-batch.js";

describe("examples/multi_reward.acpo", () => {
  it("weighs correctness, format and length, centres within the group and scales by the batch's std", async () => {
    const p = loadPipeline("examples/multi_reward.acpo").pipeline!;
    // Group 0: response 0 correct (4 tokens), 1 wrong with a complete answer (2 tokens), 2 with
    // no answer (3 tokens). Group 1: two wrong responses with answers, 5 and 9 tokens.
    const b = handBatch([1, 0, 0, 0, 0], [4, 2, 3, 5, 9], { logp: new Array(23).fill(-1), old: new Array(23).fill(-1) });
    b.format = Float64Array.from([1, 1, 0, 1, 1]);
    b.group = Int32Array.from([0, 0, 0, 1, 1]);
    b.nGroups = 2;
    const r = await onGpu(p, b, "multi_reward");
    const R = [1 + 0.1 - 0.004, 0.1 - 0.002, -0.003, 0.1 - 0.005, 0.1 - 0.009];
    const groupMean = (i: number) => (i < 3 ? (R[0]! + R[1]! + R[2]!) / 3 : (R[3]! + R[4]!) / 2);
    const batchMean = R.reduce((a, x) => a + x, 0) / 5;
    const batchStd = Math.sqrt(R.reduce((s, x) => s + (x - batchMean) ** 2, 0) / 5);
    const A = R.map((x, i) => (x - groupMean(i)) / (batchStd + 1e-6));
    const reward = r.named.find((x) => x.name === "reward")!.values;
    R.forEach((x, i) => expect(reward[i]).toBeCloseTo(x, 14));
    const adv = r.named.find((x) => x.name === "advantage")!.values;
    A.forEach((x, i) => expect(adv[i]).toBeCloseTo(x, 12));
    // The all-wrong group differs by length only: its advantages stay small (the group's own
    // std would make them -1 and +1).
    expect(Math.abs(adv[3]!)).toBeLessThan(0.01);
    expect(adv[3]).toBeGreaterThan(adv[4]!);
  });
});

describe("format reaches the batch", () => {
  const traj = (answer: string | null, correct: boolean): Trajectory => ({
    problem: { id: "q", split: "train", prompt: "p" }, group: 0, promptIds: [1], responseIds: [5, 6], oldLogp: [-1, -1], entropies: [1, 1], text: "",
    verdict: { reward: correct ? 1 : 0, correct, answer, reason: "" }, segmentation: null, C: [],
  });

  it("from the verifier's verdict: 1 when it found a complete answer", () => {
    const { batch } = trajectoryBatch([traj("7", true), traj("3", false), traj(null, false)], { steps: 1, totalSteps: 1 });
    expect(Array.from(batch.format)).toEqual([1, 1, 0]);
  });

  it("from a recorded batch: `format`, else samples.jsonl's `answer`; replay refuses a batch without either", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-format-"));
    const line = (extra: object) => JSON.stringify({ group: 0, reward: 0, tokens: [1, 2], old_logp: [-1, -1], logp: [-1, -1], entropy: [1, 1], ...extra });
    const f = join(dir, "samples.jsonl");
    writeFileSync(f, [line({ format: true }), line({ answer: "12" }), line({ answer: null })].join("\n") + "\n");
    const file = readBatchFile(f);
    expect(Array.from(file.batch.format)).toEqual([1, 1, 0]);
    expect(file.has.format).toBe(true);
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, [line({ format: "yes" })].join("\n") + "\n");
    expect(() => readBatchFile(bad)).toThrow(`${bad}:1.format: expected true or false`);
    const none = join(dir, "none.jsonl");
    writeFileSync(none, [line({}), line({ answer: "1" })].join("\n") + "\n");
    const p = loadPipeline("examples/multi_reward.acpo").pipeline!;
    const nf = readBatchFile(none);
    expect(nf.has.format).toBe(false);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(BatchError);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(`${none}: the pipeline uses the verifier's format check; every trajectory needs 'format' (true or false) or samples.jsonl's 'answer'`);
  });
});
