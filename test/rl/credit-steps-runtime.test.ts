// Process rewards in the running loop (issue 15), on the embedded policy: a rollout under
// examples/prm_steps.acpo gives every trajectory one step reward per step of the batch's
// step table (the countdown step checker over the decoded step texts), and the update's
// advantage at each response token is the example's A + lambda (step_reward - 1).
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { generateStage } from "../../compiler/codegen/index.js";
import { StageRunner } from "../../compiler/codegen/runner.js";
import { loadPipeline, type Pipeline } from "../../compiler/index.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { AdamWOptimizer } from "../../runtime/engine/model/optimizer.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { stepTable } from "../../runtime/loop/rl/step-batch.js";
import { rollout, segmentRules } from "../../runtime/loop/rl/rollout.js";
import { taskFromPipeline } from "../../runtime/loop/rl/task-of.js";
import { policyUpdate } from "../../runtime/loop/rl/update.js";
import { checkCountdownSteps } from "../../runtime/engine/tasks/countdown-steps.js";
import type { CountdownProblem } from "../../runtime/engine/tasks/countdown.js";
import { testGpu } from "../helpers/gpu.js";

function prmSteps(): Pipeline {
  const file = resolve("examples/prm_steps.acpo");
  const text = readFileSync(file, "utf8").replace(/rollout\s*\{[^}]*\}/, "rollout { prompts 3  group 4  temperature 1.0  top_p 1.0  max_tokens 64 }");
  const p = loadPipeline(file, { text });
  if (!p.pipeline) throw new Error(p.diagnostics.map((d) => d.message).join("\n"));
  return p.pipeline;
}

describe("examples/prm_steps.acpo in the loop", () => {
  it("rollout scores each step; the update's advantage is A + lambda (step_reward - 1) per token", async () => {
    const gpu = await testGpu();
    const p = prmSteps();
    const policy = Policy.load(gpu, p.model.path);
    const task = taskFromPipeline(p.task, dirname(p.file));
    const r = await rollout(policy, task, task.problems("train", 3, 7), p.rollout, segmentRules(p.segment), { seed: 5, keepCache: false });
    const trajs = r.trajectories;
    let steps = 0;
    for (const t of trajs) {
      const tab = stepTable(t);
      // One reward per step, equal to the checker on the step texts the tokenizer decodes.
      const texts = tab.starts.map((s, k) => policy.tokenizer.decode(t.responseIds.slice(s, s + tab.lengths[k]!)));
      expect(texts.join(""), "per-token pieces join to the decoded response").toBe(policy.tokenizer.decode(t.responseIds));
      expect(t.stepRewards).toEqual(checkCountdownSteps((t.problem as CountdownProblem).numbers, texts));
      steps += tab.starts.length;
    }
    expect(steps).toBeGreaterThan(trajs.length); // the warm-started policy writes several steps per response

    const runner = new StageRunner(gpu, generateStage(lowerStage(p, p.stages[0]!)));
    await runner.compile();
    const optimizer = new AdamWOptimizer(gpu, policy.weights, { lr: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: Infinity });
    const u = await policyUpdate({ gpu, model: policy.model, optimizer, runner, reference: policy.model }, trajs, {
      lr: 0, ppoEpochs: 1, minibatches: 1, rolloutLogpIsPolicy: true, temperature: 1, counters: { steps: 0, totalSteps: 0, seed: 1 },
    });
    const { batch, tok, trajs: first } = u.firstPass!;
    const lambda = p.params.find((q) => q.name === "lambda")!.value;
    first.forEach((t, i) => {
      const group = first.filter((x) => x.group === t.group).map((x) => x.verdict.reward);
      const mean = group.reduce((s, x) => s + x, 0) / group.length;
      const std = Math.sqrt(group.reduce((s, x) => s + (x - mean) ** 2, 0) / group.length);
      const A = (t.verdict.reward - mean) / (std + 1e-6);
      const tab = stepTable(t);
      const start = i * batch.T + t.promptIds.length - 1; // target slot of response token 0
      tab.starts.forEach((s, k) => {
        for (let j = s; j < s + tab.lengths[k]!; j++) expect(tok.advantage![start + j]).toBeCloseTo(A + lambda * (t.stepRewards![k]! - 1), 5);
      });
    });
    batch.release();
    optimizer.release();
    policy.release();
  });
});
