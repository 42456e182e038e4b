// metrics.jsonl's spreads are population standard deviations (spec/run.md: reward_std,
// attribution_std), unlike the per-seed sd of acpo compare, which is the sample one
// (runtime/loop/eval/estimators.ts stdSample).
import { describe, expect, it } from "vitest";
import { stdSample } from "../../runtime/loop/eval/estimators.js";
import { stepMetrics } from "../../runtime/loop/rl/metrics.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";

/** A one-token response with its reward and step credits. */
function traj(group: number, reward: number, C: number[]): Trajectory {
  return {
    problem: { id: `q${group}`, split: "train", prompt: "p" },
    group,
    promptIds: [1],
    responseIds: [20],
    oldLogp: [-0.5],
    entropies: [0.3],
    text: "",
    verdict: { reward, correct: reward === 1, answer: null, reason: "" },
    segmentation: null,
    C,
  };
}

describe("step metrics' standard deviations", () => {
  it("reward_std and attribution_std divide by n (population), not n - 1", () => {
    const trajs = [traj(0, 1, [0.5]), traj(0, 0, [-0.5]), traj(0, 0, [1]), traj(1, 1, [0]), traj(1, 1, [])];
    const times = { rollout: 0, verify: 0, segmentAttribution: 0, update: 0, total: 1 };
    const m = stepMetrics(1, "train", trajs, trajs, null, { gradNorm: 0, lr: 0, skipped: 0, times });
    // rewards 1, 0, 0, 1, 1: mean 0.6, squared deviations sum to 1.2.
    expect(m.reward_std).toBeCloseTo(Math.sqrt(1.2 / 5), 15);
    expect(stdSample([1, 0, 0, 1, 1])).toBeCloseTo(Math.sqrt(1.2 / 4), 15);
    // C 0.5, -0.5, 1, 0: mean 0.25, squared deviations sum to 1.25.
    expect(m.attribution_std).toBeCloseTo(Math.sqrt(1.25 / 4), 15);
  });
});
