// Dispatches, submits and readbacks (buffer maps: each one a wait for the GPU) that one
// quickstart training step spends, by phase: the rollout's decoding (per decoded token),
// attribution, and the policy update. The phases run through the same functions the
// training loop calls (rollout, attributeSteps, policyUpdate), on the quickstart pipeline
// (examples/acpo.acpo: 16 prompts x 8 responses, up to 96 tokens) and its policy.
import { dirname, resolve } from "node:path";
import { loadPipeline, type Pipeline } from "../../compiler/index.js";
import { compileArtifact } from "../../compiler/plan/artifact.js";
import type { Gpu, GpuCounters } from "../../runtime/engine/gpu.js";
import { AdamWOptimizer } from "../../runtime/engine/model/optimizer.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { PLAIN_PROMPT } from "../../runtime/engine/model/tokenizer.js";
import { attributeSteps } from "../../runtime/loop/rl/attribution.js";
import { rollout, segmentRules } from "../../runtime/loop/rl/rollout.js";
import { StageChain } from "../../runtime/loop/rl/stages.js";
import { taskFromPipeline } from "../../runtime/loop/rl/task-of.js";
import { policyUpdate } from "../../runtime/loop/rl/update.js";
import { fmt } from "../lib/timing.js";
import type { Table } from "../lib/types.js";

const QUICKSTART = "examples/acpo.acpo";

function quickstartPipeline(): Pipeline {
  const r = loadPipeline(resolve(QUICKSTART));
  if (!r.pipeline) throw new Error(`${QUICKSTART}: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return r.pipeline;
}

const per = (c: GpuCounters, n: number): string[] => [fmt(c.dispatches / n, 1), fmt(c.submits / n, 2), fmt(c.readbacks / n, 2)];

/** Counts of one quickstart step's phases (a second step, so that one-time work is not counted). */
export async function quickstartCounts(gpu: Gpu, log: (m: string) => void): Promise<Table> {
  const pipeline = quickstartPipeline();
  const task = taskFromPipeline(pipeline.task, dirname(pipeline.file));
  const policy = Policy.load(gpu, pipeline.model.path);
  policy.tokenizer.promptFormat = pipeline.task.prompt ?? PLAIN_PROMPT;
  const opt = pipeline.optimizer;
  const optimizer = new AdamWOptimizer(gpu, policy.weights, { lr: opt.lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, maxGradNorm: opt.clipGradNorm > 0 ? opt.clipGradNorm : Infinity });
  const stages = new StageChain(gpu, compileArtifact(pipeline));
  await stages.compile();
  const rules = segmentRules(pipeline.segment);
  const cfg = pipeline.rollout;
  let rows: string[][] = [];
  try {
    for (const step of [1, 2]) {
      log(`dispatch: counting quickstart step ${step} of 2`);
      const problems = task.problems("train", cfg.prompts, step);
      const c0 = gpu.counters();
      const r = await rollout(policy, task, problems, cfg, rules, { seed: step, keepCache: true });
      const decode = gpu.countersSince(c0);
      const trajs = r.trajectories;
      const c1 = gpu.counters();
      const C = await attributeSteps(policy, r.cache, trajs.map((t, i) => ({ ...t, cacheRow: i })), pipeline.attribution!.measure);
      trajs.forEach((t, i) => (t.C = C[i]!));
      r.cache?.release();
      const attribution = gpu.countersSince(c1);
      const c2 = gpu.counters();
      const up = await policyUpdate({ gpu, model: policy.model, optimizer, runner: stages.runner, reference: stages.reference() }, trajs, {
        lr: opt.lr, ppoEpochs: opt.ppoEpochs, minibatches: opt.minibatches, rolloutLogpIsPolicy: true, temperature: cfg.temperature,
        counters: { steps: step - 1, totalSteps: step - 1, seed: step },
      });
      up.firstPass?.batch.release();
      const update = gpu.countersSince(c2);
      // Decode steps: positions sampled after the prefill (the longest response); tokens: all rows' responses.
      const positions = Math.max(...trajs.map((t) => t.responseIds.length));
      const tokens = trajs.reduce((s, t) => s + t.responseIds.length, 0);
      const minibatchUpdates = opt.ppoEpochs * Math.min(opt.minibatches, cfg.prompts);
      rows = [
        ["rollout (prefill + decode), per decode position", ...per(decode, positions), `${positions} positions x ${trajs.length} rows`],
        ["rollout, per generated token", ...per(decode, tokens), `${tokens} tokens`],
        ["attribution, whole step", ...per(attribution, 1), `${trajs.length} responses`],
        ["update, whole step", ...per(update, 1), `${up.updates + up.skipped} optimizer update(s)`],
        ["update, per optimizer update (minibatch)", ...per(update, minibatchUpdates), `${opt.ppoEpochs} epoch(s) x ${Math.min(opt.minibatches, cfg.prompts)} minibatch(es)`],
      ];
    }
  } finally {
    optimizer.release();
    stages.release();
    policy.release();
  }
  return {
    title: "quickstart step: dispatches, submits and readbacks",
    columns: ["phase", "dispatches", "submits", "readbacks", "over"],
    rows,
    notes: [`${QUICKSTART} (prompts ${cfg.prompts} x group ${cfg.group}, up to ${cfg.maxTokens} tokens); counts of its second step (the first compiles); readbacks are buffer maps, each a wait for the GPU`],
  };
}
