// Stage `until` conditions and curriculum priorities evaluated by the IR interpreter over a
// step's trajectories; the batch they see agrees with replay's reading of samples.jsonl.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline, formatAll, type Pipeline, type Stage } from "../../compiler/index.js";
import { readBatchFile } from "../../compiler/plan/batch-file.js";
import { jsonLine } from "../../runtime/loop/run/run-dir-jsonl.js";
import { sampleLine } from "../../runtime/loop/run/run-dir-samples.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";
import { lowerStagePrograms, paramValues } from "../../compiler/plan/artifact.js";
import { stepTable } from "../../runtime/loop/rl/step-batch.js";
import { CurriculumPriority, StageCondition, trajectoryBatch } from "../../runtime/loop/rl/until.js";

function pipeline(items: string, opts: { segment?: boolean } = {}): Pipeline {
  const seg = opts.segment ? "  segment entropy { top 0.2  markers []  min_gap 1  align none }\n  attribution loglik { judge policy }\n" : "";
  const text = `pipeline t {
  model "m"
  task countdown { numbers 3..4 }
  rollout { prompts 4  group 4  temperature 1.0  max_tokens 16 }
  optimizer adamw { lr 1e-5 }
  loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }
  param target = 0.75 in [0, 1]
${seg}  advantage = r - mean(r over group)
${items}
}
`;
  const r = loadPipeline("test/rl/inline.acpo", { text });
  if (!r.pipeline) throw new Error(formatAll(r));
  return r.pipeline;
}

/** A stage's `until` as the loop gets it: compiled (compiler/plan/artifact.ts), with the pipeline's params. */
const condition = (p: Pipeline, s: Stage) => new StageCondition(lowerStagePrograms(p, s).until, paramValues(p));
const priority = (p: Pipeline, s: Stage) => new CurriculumPriority(s, lowerStagePrograms(p, s).priority, paramValues(p));

function traj(group: number, entropies: number[], reward: number, opts: { starts?: number[]; C?: number[]; id?: string } = {}): Trajectory {
  const L = entropies.length;
  return {
    problem: { id: opts.id ?? `q${group}`, split: "train", prompt: "p" },
    group,
    promptIds: [1],
    responseIds: entropies.map((_, t) => 20 + t),
    oldLogp: entropies.map((_, t) => -0.5 - 0.1 * t),
    entropies,
    text: "",
    verdict: { reward, correct: reward === 1, answer: null, reason: "" },
    segmentation: opts.starts ? { boundaries: [...opts.starts, L], answer: null, reasoningSteps: opts.starts.length } : null,
    C: opts.C ?? [],
  };
}

// Two groups (ids 5 and 2, deliberately out of order), 7 responses, 25 tokens.
const BATCH = [
  traj(5, [0.1, 0.2, 0.3], 1),
  traj(5, [0.4, 0.5], 0),
  traj(5, [0.6, 0.7, 0.8, 0.9], 1),
  traj(5, [1.0], 1),
  traj(2, [0.2, 0.2, 0.2, 0.2, 0.2], 0),
  traj(2, [0.3, 0.3, 0.3, 0.3, 0.3], 0),
  traj(2, [0.4, 0.4, 0.4, 0.4, 0.4], 1),
];
const allH = BATCH.flatMap((t) => t.entropies);
const meanH = allH.reduce((a, v) => a + v, 0) / allH.length;

describe("until conditions", () => {
  it("step counts from the examples: acpo.acpo switches stages after 167 steps, grpo.acpo ends after 200", () => {
    const acpo = loadPipeline("examples/acpo.acpo").pipeline!;
    const explore = condition(acpo, acpo.stages[0]!);
    expect(explore.holds(BATCH, { steps: 166, totalSteps: 166 })).toBe(false);
    expect(explore.holds(BATCH, { steps: 167, totalSteps: 167 })).toBe(true);
    const converge = condition(acpo, acpo.stages[1]!);
    // `steps` counts within the stage, not the run.
    expect(converge.holds(BATCH, { steps: 32, totalSteps: 199 })).toBe(false);
    expect(converge.holds(BATCH, { steps: 33, totalSteps: 200 })).toBe(true);
    const grpo = loadPipeline("examples/grpo.acpo").pipeline!;
    const train = condition(grpo, grpo.stages[0]!);
    expect([199, 200, 201].map((s) => train.holds([], { steps: s, totalSteps: s }))).toEqual([false, true, true]);
  });

  it("inline `until steps >= 3` and `until total_steps == 4` hold exactly when the counters say so", () => {
    const p = pipeline("  stage a until steps >= 3 { kl 0 }\n  stage b until total_steps == 4 { kl 0 }");
    const a = condition(p, p.stages[0]!);
    expect([1, 2, 3].map((s) => a.holds(BATCH, { steps: s, totalSteps: s }))).toEqual([false, false, true]);
    const b = condition(p, p.stages[1]!);
    expect([3, 4, 5].map((s) => b.holds(BATCH, { steps: s - 3, totalSteps: s }))).toEqual([false, true, false]);
  });

  it("entropy conditions average H over the batch's response tokens, from the rollout or the current policy", () => {
    expect(meanH).toBeCloseTo(0.4, 12);
    const p = pipeline("  stage a until mean(H over batch) < 0.41 { kl 0 }\n  stage b until mean(H over batch) < 0.39 { kl 0 }");
    const c = { steps: 1, totalSteps: 1 };
    expect(condition(p, p.stages[0]!).holds(BATCH, c)).toBe(true);
    expect(condition(p, p.stages[1]!).holds(BATCH, c)).toBe(false);
    // The current policy's entropies, when given, replace the rollout's.
    const halved = BATCH.map((t) => t.entropies.map((h) => h / 2));
    expect(condition(p, p.stages[1]!).holds(BATCH, c, { entropy: halved })).toBe(true);
    // Quantiles and sequence-level means reduce over the same tokens.
    const q = pipeline("  stage a until quantile(H over batch, 0.5) == 0.3 and max(mean(H over seq) over batch) == 1 { kl 0 }");
    expect(condition(q, q.stages[0]!).holds(BATCH, c)).toBe(true);
  });

  it("reads rewards, accuracy, lengths and params: mean accuracy over groups, frac(correct), length", () => {
    // Group 5: 3 of 4 correct; group 2: 1 of 3. Mean of group accuracies = (0.75 + 1/3) / 2.
    const acc = (0.75 + 1 / 3) / 2;
    const p = pipeline(
      [
        `  stage a until mean(accuracy over batch) > ${acc - 1e-9} and mean(accuracy over batch) < ${acc + 1e-9} { kl 0 }`,
        "  stage b until frac(correct over batch) >= 4 / 7 and mean(r over batch) > 0.5 { kl 0 }",
        "  stage c until max(accuracy over batch) >= target or steps >= 100 { kl 0 }",
        "  stage d until mean(length over batch) == 25 / 7 { kl 0 }",
      ].join("\n"),
    );
    const c = { steps: 1, totalSteps: 1 };
    expect(p.stages.map((s) => condition(p, s).holds(BATCH, c))).toEqual([true, true, true, true]);
    // The same conditions fail on a batch where they do not hold.
    const wrong = BATCH.map((t) => ({ ...t, verdict: { ...t.verdict, reward: 0, correct: false } }));
    expect(p.stages.map((s) => condition(p, s).holds(wrong.slice(1), { steps: 1, totalSteps: 1 }))).toEqual([false, false, false, false]);
  });

  it("NaN is false: a mean over no tokens never ends a stage", () => {
    const p = pipeline("  stage a until mean(H over batch) < 1 { kl 0 }\n  stage b until mean(H over batch) < 1 or steps >= 2 { kl 0 }");
    expect(condition(p, p.stages[0]!).holds([], { steps: 1, totalSteps: 1 })).toBe(false);
    const b = condition(p, p.stages[1]!);
    expect([1, 2].map((s) => b.holds([], { steps: s, totalSteps: s }))).toEqual([false, true]);
  });

  it("step-level attribution conditions see C per step (0 for the unscored answer step)", () => {
    const trajs = [traj(0, [0.1, 0.9, 0.2, 0.8, 0.3], 1, { starts: [0, 2, 4], C: [0.4, 0.2] }), traj(0, [0.5, 0.5, 0.5], 0, { starts: [0, 1], C: [-0.3, 0.1] })];
    const p = pipeline(
      "  stage a until mean(C over batch) > 0.079 and mean(C over batch) < 0.081 { kl 0 }\n  stage b until max(step_length over batch) == 2 and mean(step_entropy over batch) > 0 { kl 0 }",
      { segment: true },
    );
    // Steps: (0.4, 0.2, 0 padded) and (-0.3, 0.1): mean 0.4 / 5 = 0.08.
    expect(p.stages.map((s) => condition(p, s).holds(trajs, { steps: 1, totalSteps: 1 }))).toEqual([true, true]);
  });
});

describe("curriculum priorities", () => {
  it("one value per prompt group, in increasing group id, with the group's problem", () => {
    const p = pipeline("  stage a until steps >= 5 { kl 0  sample curriculum { priority accuracy * (1 - accuracy)  unseen 0.5 } }");
    const cp = priority(p, p.stages[0]!);
    expect(cp.unseen).toBe(0.5);
    const got = cp.ofGroups(BATCH, { steps: 0, totalSteps: 0 });
    expect(got.map((g) => [g.group, g.problemId])).toEqual([[2, "q2"], [5, "q5"]]);
    expect(got[0]!.priority).toBeCloseTo((1 / 3) * (2 / 3), 15);
    expect(got[1]!.priority).toBeCloseTo(0.75 * 0.25, 15);
  });

  it("group reductions of tokens, and batch-level priorities shared by every group", () => {
    const p = pipeline(
      "  stage a until steps >= 5 { kl 0  sample curriculum { priority 1 - mean(H over group) } }\n  stage b until steps >= 5 { kl 0  sample curriculum { priority std(r over batch) } }",
    );
    const a = priority(p, p.stages[0]!).ofGroups(BATCH, { steps: 0, totalSteps: 0 });
    expect(a[0]!.priority).toBeCloseTo(1 - 0.3, 12); // group 2: 15 tokens of 0.2, 0.3, 0.4
    expect(a[1]!.priority).toBeCloseTo(1 - 5.5 / 10, 12); // group 5: 0.1..1.0
    const b = priority(p, p.stages[1]!).ofGroups(BATCH, { steps: 0, totalSteps: 0 });
    const r = BATCH.map((t) => t.verdict.reward);
    const mu = r.reduce((x, v) => x + v, 0) / r.length;
    const sd = Math.sqrt(r.reduce((x, v) => x + (v - mu) ** 2, 0) / r.length);
    expect(b.map((g) => g.priority)).toEqual([sd, sd].map((x) => expect.closeTo(x, 12) as unknown as number));
    expect(() => priority(p, { ...p.stages[0]!, sampling: { kind: "all" } })).toThrow(/does not sample by curriculum/);
  });
});

describe("conditions and priorities as the loop uses them", () => {
  it("rand in a condition sees the seed; priorities come per group with its problem", () => {
    const p = pipeline("  stage a until steps >= 2 and mean(rand over batch) < 0.75 { kl 0  sample curriculum { priority 1 - accuracy } }");
    const st = p.stages[0]!;
    const cond = condition(p, st);
    expect(cond.holds(BATCH, { steps: 1, totalSteps: 1 }, { seed: 3 })).toBe(false);
    expect(cond.holds(BATCH, { steps: 2, totalSteps: 2 }, { seed: 3 })).toBe(true); // 25 uniforms average near 0.5
    const pri = priority(p, st).ofGroups(BATCH, { steps: 0, totalSteps: 0 });
    expect(pri.map((g) => [g.group, g.priority])).toEqual([[2, 1 - 1 / 3], [5, 0.25]]);
  });
});

describe("the step's batch", () => {
  it("equals replay's batch read from the same trajectories' samples.jsonl lines", () => {
    const trajs = [traj(4, [0.1, 0.9, 0.2, 0.8, 0.3], 1, { starts: [0, 2, 4], C: [0.4, 0.2] }), traj(1, [0.5, 0.5, 0.5], 0, { starts: [0, 1], C: [-0.3, 0.1] }), traj(4, [0.7, 0.6], 0, { C: [0.25] })];
    const cur = {
      logp: trajs.map((t) => t.oldLogp.map((x) => x + 0.05)),
      entropy: trajs.map((t) => t.entropies.map((h) => h * 0.9)),
      refLogp: trajs.map((t) => t.oldLogp.map((x) => x - 0.05)),
    };
    const path = join(mkdtempSync(join(tmpdir(), "acpo-until-")), "samples.jsonl");
    writeFileSync(path, trajs.map((t, i) => jsonLine(sampleLine(t, { logp: cur.logp[i]!, entropy: cur.entropy[i]!, refLogp: cur.refLogp[i]! }, { step: 0, stage: "a" }))).join(""));
    const file = readBatchFile(path).batch;
    const mine = trajectoryBatch(trajs, { steps: 0, totalSteps: 0 }, cur);
    expect(mine.groupIds).toEqual([1, 4]);
    const b = mine.batch;
    for (const k of ["B", "T", "S", "nGroups", "V", "steps", "totalSteps", "seed"] as const) expect(b[k], k).toBe(file[k]);
    for (const k of ["group", "reward", "correct", "length", "stepIdx", "ids", "oldLogp", "refLogp", "C", "stepLength", "stepEntropy", "logp", "H"] as const) {
      expect(Array.from(b[k]!), k).toEqual(Array.from(file[k]!));
    }
  });

  it("rejects per-token arrays that do not match the responses", () => {
    expect(() => trajectoryBatch(BATCH, { steps: 0, totalSteps: 0 }, { entropy: [[1]] })).toThrow(/1 entropy arrays for 7 trajectories/);
    expect(() => trajectoryBatch(BATCH.slice(0, 1), { steps: 0, totalSteps: 0 }, { logp: [[1]] })).toThrow(/trajectory 0 has 3 tokens but 1 logp values/);
  });

  it("derives each response's step table once, for the GPU batch and the interpreter's alike", () => {
    // Steps [0, 2), [2, 5), [5, 6); attribution scored the first two.
    const t = traj(1, [0.1, 0.3, 0.2, 0.4, 0.6, 0.9], 1, { starts: [0, 2, 5], C: [0.5, -0.25] });
    const tab = stepTable(t);
    expect(tab.starts).toEqual([0, 2, 5]);
    expect(tab.lengths).toEqual([2, 3, 1]);
    expect(tab.entropy.map((h) => Number(h.toFixed(12)))).toEqual([0.2, 0.4, 0.9]);
    expect(tab.C).toEqual([0.5, -0.25, 0]);
    const b = trajectoryBatch([t], { steps: 0, totalSteps: 0 }).batch;
    expect(Array.from(b.stepLength)).toEqual(tab.lengths);
    expect(Array.from(b.C)).toEqual(tab.C);
    expect(Array.from(b.stepEntropy)).toEqual(tab.entropy);
    // Without segmentation one step; an empty response one step of length 0 and entropy 0.
    // No step checker, Monte-Carlo rollouts or judge: those values are absent (null; the GPU batch
    // reads NaN there, which no kernel reads: the checker refuses step_reward then).
    const absent = { reward: null, mcValue: null, mcNext: null, judge: null };
    expect(stepTable(traj(1, [0.5, 0.7], 0))).toEqual({ starts: [0], lengths: [2], entropy: [0.6], C: [0], ...absent });
    expect(stepTable({ ...traj(1, [], 0), segmentation: { boundaries: [0], answer: null, reasoningSteps: 0 } })).toEqual({ starts: [0], lengths: [0], entropy: [0], C: [0], ...absent });
    expect(stepTable({ ...traj(1, [0.5, 0.7], 0), stepRewards: [0] }).reward).toEqual([0]);
    expect(() => stepTable(traj(1, [0.1, 0.2], 0, { C: [1, 2] }))).toThrow(/trajectory has 2 attribution scores but 1 steps/);
  });
});
