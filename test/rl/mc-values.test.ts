// VinePPO's Monte-Carlo step values in the runtime (runtime/loop/rl/mc-values.ts): which prefixes
// are continued and how they are batched, the mean per step on hand-made rewards, the step
// table's mc_next, and examples/vineppo.acpo trained for 2 steps on the embedded policy
// (tiny settings), whose samples.jsonl replays to V(s_{k+1}) - V(s_k).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { interpretStage } from "../../compiler/interpret/stage.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { readBatchFile } from "../../compiler/plan/batch-file.js";
import { printPipeline } from "../../compiler/print.js";
import { stepTable } from "../../runtime/loop/rl/step-batch.js";
import { mcCalls, mcMeans, mcRows } from "../../runtime/loop/rl/mc-values.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";
import { testGpu } from "../helpers/gpu.js";

const traj = (response: number[], boundaries: number[] | null, reward: number, mcValues?: number[]): Trajectory => ({
  problem: { id: "q", split: "train", prompt: "p" }, group: 0, promptIds: [1, 2], responseIds: response, oldLogp: response.map(() => -1),
  entropies: response.map(() => 1), text: "", verdict: { reward, correct: reward > 0, answer: null, reason: "" },
  segmentation: boundaries ? { boundaries, answer: null, reasoningSteps: boundaries.length - 1 } : null, C: [], ...(mcValues ? { mcValues } : {}),
});

describe("Monte-Carlo value rollouts", () => {
  it("continues K times from the prompt + the response before each step, shortest prefixes first", () => {
    const rows = mcRows([traj([5, 6, 7, 8], [0, 2, 4], 1), traj([9], null, 0)], 2);
    expect(rows.map((r) => [r.traj, r.step, r.start, r.prefix])).toEqual([
      [0, 0, 0, [1, 2]], [0, 0, 0, [1, 2]], [1, 0, 0, [1, 2]], [1, 0, 0, [1, 2]], [0, 1, 2, [1, 2, 5, 6]], [0, 1, 2, [1, 2, 5, 6]],
    ]);
  });

  it("splits the rows into generate calls whose prefix + budget fits the model's positions", () => {
    const rows = mcRows([traj(new Array(40).fill(5), [0, 10, 30, 40], 1)], 1); // prefixes of 2, 12 and 32 tokens
    // max_tokens 40: budgets 40, 30, 10; windows 2+40, 12+40 (mixed with the first), 32+40.
    expect(mcCalls(rows, 40, 60).map((c) => c.map((r) => r.start))).toEqual([[0, 10], [30]]);
    expect(mcCalls(rows, 40, 100).map((c) => c.map((r) => r.start))).toEqual([[0, 10, 30]]);
  });

  it("V(s_k) is the mean reward of its K continuations; mc_next the next step's V, r after the last", () => {
    const trajs = [traj([5, 6, 7, 8], [0, 2, 4], 1), traj([9, 9, 9], [0, 1, 2, 3], 0)];
    const rows = mcRows(trajs, 4);
    // Rewards by (trajectory, step): traj 0: step 0 -> 1,0,0,1; step 1 -> 1,1,1,0; traj 1: 0,0,0,1 / 0,0,0,0 / 1,1,0,0.
    const want: Record<string, number[]> = { "0,0": [1, 0, 0, 1], "0,1": [1, 1, 1, 0], "1,0": [0, 0, 0, 1], "1,1": [0, 0, 0, 0], "1,2": [1, 1, 0, 0] };
    const used: Record<string, number> = {};
    const rewards = rows.map((r) => want[`${r.traj},${r.step}`]![(used[`${r.traj},${r.step}`] = (used[`${r.traj},${r.step}`] ?? -1) + 1)]!);
    const V = mcMeans(trajs, rows, rewards);
    expect(V).toEqual([[0.5, 0.75], [0.25, 0, 0.5]]);
    V.forEach((v, i) => (trajs[i]!.mcValues = v));
    expect(trajs.map((t) => stepTable(t).mcNext)).toEqual([[0.75, 1], [0, 0.5, 0]]);
    expect(() => stepTable(traj([5, 6], [0, 1, 2], 0, [0.5]))).toThrow("samples: trajectory has 1 Monte-Carlo values but 2 steps");
  });

  it("examples/vineppo.acpo trains 2 steps on the embedded policy; samples.jsonl replays to mc_next - mc_value", async () => {
    const gpu = await testGpu();
    const p = loadPipeline(resolve("examples/vineppo.acpo")).pipeline!;
    const K = 2;
    const text = printPipeline(p)
      .replace(/model "[^"]*"/, `model "${resolve("models/countdown-tiny")}"`)
      .replace(/rollout \{[^}]*\}/, `rollout { prompts 2  group 2  temperature 1.0  top_p 1.0  max_tokens 64  mc_rollouts ${K} }`)
      .replace(/until steps >= \d+/g, "until steps >= 2")
      .replace(/eval \{[^}]*\}/g, "eval { every 100  split test  problems 2  samples 1  temperature 1.0  max_tokens 64  metrics [acc@1] }");
    const file = join(mkdtempSync(join(tmpdir(), "acpo-vineppo-")), "vineppo_small.acpo");
    writeFileSync(file, text);
    const out = join(mkdtempSync(join(tmpdir(), "acpo-vineppo-run-")), "run");
    const r = await train({ pipelinePath: file, steps: 2, outDir: out, quiet: true, gpu, checkpointEvery: 10 });
    expect(r.steps).toBe(2);
    const lines = readFileSync(join(out, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step_starts: number[]; mc_value: number[]; reward: number });
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l.mc_value).toHaveLength(l.step_starts.length);
      for (const v of l.mc_value) expect([0, 0.5, 1]).toContain(v); // the mean of K = 2 rewards in {0, 1}
    }
    const file2 = readBatchFile(join(out, "samples.jsonl"));
    const b = file2.batch;
    const small = loadPipeline(file).pipeline!;
    const res = interpretStage(lowerStage(small, small.stages[0]!), b);
    lines.forEach((l, i) => {
      const V = [...l.mc_value, l.reward];
      for (let t = 0; t < file2.lengths[i]!; t++) {
        const k = b.stepIdx[i * b.T + t]!;
        expect(res.tokens.advantage[i * b.T + t]).toBeCloseTo(V[k + 1]! - V[k]!, 12);
      }
    });
    // Its own user CPU is ~15 s; the wall-clock limit leaves room for a shared, loaded machine.
  }, 300_000);
});
