// The credit path in the running loop (issue 11), on the embedded policy: at a rollout
// temperature T != 1 the rollout's log-probs, the recomputed old log-probs and the update's
// log-probs are of the same distribution (softmax(logits / T)), so an unchanged policy has
// ratio 1; dynamic sampling reports a short batch and never turns an empty one into a step.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { StageRunner } from "../../compiler/codegen/runner.js";
import { generateStage } from "../../compiler/codegen/index.js";
import { loadPipeline, type Pipeline } from "../../compiler/index.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { AdamWOptimizer } from "../../runtime/engine/model/optimizer.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { Rng } from "../../runtime/engine/rng.js";
import { stepMetrics } from "../../runtime/loop/rl/metrics.js";
import { collectRollouts, MAX_EMPTY_ATTEMPTS, SamplingError } from "../../runtime/loop/rl/prompt-sampler.js";
import { rollout } from "../../runtime/loop/rl/rollout.js";
import { taskFromPipeline } from "../../runtime/loop/rl/task-of.js";
import { policyUpdate } from "../../runtime/loop/rl/update.js";
import { testGpu } from "../helpers/gpu.js";

/** An example with its rollout block replaced (the model path stays relative to examples/). */
function pipelineWith(example: string, rolloutBlock: string, edit: (t: string) => string = (t) => t): Pipeline {
  const file = resolve("examples", `${example}.acpo`);
  const text = edit(readFileSync(file, "utf8").replace(/rollout\s*\{[^}]*\}/, rolloutBlock));
  const p = loadPipeline(file, { text });
  if (!p.pipeline) throw new Error(p.diagnostics.map((d) => d.message).join("\n"));
  return p.pipeline;
}

describe("rollout temperature in the update", () => {
  it("rollout, old and training log-probs agree at T = 0.7: the unchanged policy's ratio is 1", async () => {
    const gpu = await testGpu();
    const p = pipelineWith("grpo", "rollout { prompts 2  group 3  temperature 0.7  top_p 1.0  max_tokens 20 }");
    const policy = Policy.load(gpu, p.model.path);
    const task = taskFromPipeline(p.task, dirname(p.file));
    const r = await rollout(policy, task, task.problems("train", 2, 5), p.rollout, null, { seed: 11, keepCache: false });
    const trajs = r.trajectories;
    const runner = new StageRunner(gpu, generateStage(lowerStage(p, p.stages[0]!)));
    await runner.compile();
    const optimizer = new AdamWOptimizer(gpu, policy.weights, { lr: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: Infinity });
    for (const fromRollout of [false, true]) {
      const u = await policyUpdate({ gpu, model: policy.model, optimizer, runner, reference: policy.model }, trajs, {
        lr: 0, ppoEpochs: 1, minibatches: 1, rolloutLogpIsPolicy: fromRollout, temperature: 0.7, counters: { steps: 0, totalSteps: 0, seed: 1 },
      });
      const { batch, tok, trajs: first } = u.firstPass!;
      // Training log-probs vs the sampler's (a different kernel path: KV-cache decoding).
      first.forEach((t, i) => {
        const start = i * batch.T + t.promptIds.length - 1;
        const train = Array.from(tok.logp!.subarray(start, start + t.responseIds.length));
        train.forEach((x, k) => expect(Math.abs(x - t.oldLogp[k]!)).toBeLessThan(2e-4));
      });
      // Old log-probs recomputed by a forward pass are bit-for-bit the same computation: ratio 1.
      const tol = fromRollout ? 5e-4 : 1e-6;
      expect(Math.abs(u.summary.ratio_min - 1)).toBeLessThan(tol);
      expect(Math.abs(u.summary.ratio_max - 1)).toBeLessThan(tol);
      // The reference here is the policy itself: the raw KL estimate is 0.
      expect(Math.abs(u.summary.kl)).toBeLessThan(1e-6);
      batch.release();
    }
    optimizer.release();
    policy.release();
  });
});

describe("dynamic sampling", () => {
  it("with no group kept, samples again (not a step) and stops after MAX_EMPTY_ATTEMPTS attempts", async () => {
    const gpu = await testGpu();
    // One token per response can hold no answer: every reward is 0, every group is flat.
    const p = pipelineWith("dapo", "rollout { prompts 2  group 2  temperature 1.0  top_p 1.0  max_tokens 1 }", (t) => t.replace("max_rounds 10", "max_rounds 2"));
    const policy = Policy.load(gpu, p.model.path);
    const task = taskFromPipeline(p.task, dirname(p.file));
    const logs: string[] = [];
    const rng = new Rng(3);
    const before = new Rng(3);
    await expect(collectRollouts(policy, task, p, p.stages[0]!, null, {
      seed: 9, keepCache: false, state: {}, rng, counters: { steps: 0, totalSteps: 0 }, log: (m) => logs.push(m),
    })).rejects.toThrow(new SamplingError(
      `dynamic sampling kept no prompt group in ${MAX_EMPTY_ATTEMPTS} attempts of 2 rounds (20 prompts): every group's rewards were equal, so no step had a learning signal. ` +
      "The problems are too hard (or too easy) for the policy: change the task's difficulty, raise `max_rounds`, or use `sample all`",
    ));
    expect(logs).toEqual([1, 2, 3, 4].map((k) => `acpo: dynamic sampling kept no group in 2 rounds (all rewards equal in every group); not a step, sampling again (${k} of ${MAX_EMPTY_ATTEMPTS} attempts)`));
    // Each retry drew a fresh seed from the run's RNG (so a resumed run repeats it).
    for (let k = 0; k < 4; k++) before.nextU32();
    expect(rng.nextU32()).toBe(before.nextU32());
    policy.release();
  });

  it("short of groups when the rounds run out: trains on those kept and reports kept and short", async () => {
    const gpu = await testGpu();
    const P = 8;
    const p = pipelineWith("dapo", `rollout { prompts ${P}  group 4  temperature 1.0  top_p 1.0  max_tokens 64 }`, (t) => t.replace("max_rounds 10", "max_rounds 1"));
    const policy = Policy.load(gpu, p.model.path);
    const task = taskFromPipeline(p.task, dirname(p.file));
    const c = await collectRollouts(policy, task, p, p.stages[0]!, null, { seed: 4, keepCache: false, state: {}, rng: new Rng(1), counters: { steps: 0, totalSteps: 0 } });
    const byGroup = new Map<number, number[]>();
    for (const t of c.generated) byGroup.set(t.group, [...(byGroup.get(t.group) ?? []), t.verdict.reward]);
    const signal = [...byGroup.values()].filter((rs) => rs.some((x) => x !== rs[0])).length;
    expect(signal).toBeGreaterThan(0); // the test needs a short, non-empty batch
    expect(signal).toBeLessThan(P);
    expect(c.sampling).toEqual({ kept: signal, wanted: P, rounds: 1, emptyAttempts: 0 });
    expect(c.trajectories.length).toBe(signal * 4);
    const m = stepMetrics(1, "train", c.generated, c.trajectories, null, {
      gradNorm: NaN, lr: 0, skipped: 0, sampling: c.sampling, times: { rollout: 0, verify: 0, segmentAttribution: 0, update: 0, total: 0 },
    });
    expect([m.dynamic_sampling_kept, m.dynamic_sampling_short, m.dynamic_sampling_empty_attempts]).toEqual([signal, P - signal, 0]);
    policy.release();
  });
});
