// The RL training loop: a pipeline (or a compiled plan) in, a run directory out.
//
// Per optimizer step: choose prompts (all / dynamic sampling / curriculum) -> G rollouts per
// prompt on the GPU -> verify -> segment (rollout entropies) -> attribution C per step with
// the judge, reusing the rollout's KV cache -> the stage's compiled loss kernels -> backward
// -> AdamW -> metrics, samples, stage transition, evaluation, checkpoint.
// Everything random flows from one seeded RNG whose state is checkpointed, and the kernels
// are deterministic, so `--resume` continues a killed run with the same numbers.
import { dirname, resolve } from "node:path";
import { formatAll, loadPipeline, type Pipeline } from "../../compiler/index.js";
import { type Artifact, compileArtifact, paramValues } from "../../compiler/plan/artifact.js";
import { evaluate, metricValue } from "../eval/evaluate.js";
import { Gpu } from "../gpu.js";
import { AdamWOptimizer } from "../model/optimizer.js";
import { Policy } from "../model/policy.js";
import { GpuWeights } from "../model/weights.js";
import { Rng } from "../rng.js";
import { type LrSchedule, lrAt } from "../train/schedule.js";
import { attributeSteps, resolveJudge } from "./attribution.js";
import { collectRollouts, type SamplerState } from "./prompt-sampler.js";
import { stepMetrics } from "./metrics.js";
import { Progress } from "./progress.js";
import { segmentRules } from "./rollout.js";
import { RunDir, type Resumed } from "./run-dir.js";
import { type RunSettings, SettingsError, checkGivenCounts, freshSettings, resumeSettings } from "./run-resume.js";
import { pickSamples, sampleLine } from "./run-dir-samples.js";
import { StageSchedule } from "./stages.js";
import { taskFromPipeline } from "./task-of.js";
import type { EvalRecord, StepMetrics } from "./types.js";
import { CurriculumPriority, StageCondition } from "./until.js";
import { policyUpdate } from "./update.js";

export interface TrainOptions {
  /** The .acpo file, compiled in memory (compileArtifact) before the loop starts. */
  pipelinePath?: string;
  /** Source text to use instead of reading pipelinePath (tests); `extends` and paths resolve against pipelinePath. */
  pipelineText?: string;
  /** A compiled plan (acpo run DIR: loadPlan): the loop runs its pipeline, kernels and programs as they are. */
  plan?: Artifact;
  set?: string[];
  /** Stop after this many optimizer steps (default: the stages' own end). */
  steps?: number;
  seed?: number;
  outDir?: string;
  /**
   * Continue the run in this directory from its latest checkpoint, with its own stored
   * pipeline, seed and step count; pipelinePath, set, steps, seed and outDir must then be
   * absent or agree with them (runtime/rl/run-resume.ts).
   */
  resume?: string;
  quiet?: boolean;
  /** Checkpoint every N steps (default 25) and at the end. */
  checkpointEvery?: number;
  /** Trajectories written to samples.jsonl per step (default 4). */
  samplesPerStep?: number;
  argv?: string[];
  /** A GPU context to use (tests); by default the loop creates and destroys its own. */
  gpu?: Gpu;
}

export interface TrainResult {
  runDir: string;
  steps: number;
  lastMetrics: StepMetrics | null;
  /** The evaluation before the first update (null when resumed or without eval blocks). */
  firstEval: EvalRecord | null;
  lastEval: EvalRecord | null;
  /** Stopped by Ctrl-C (after saving a checkpoint): the CLI exits 130. */
  interrupted: boolean;
}

/** A user-facing failure of the loop (bad pipeline, bad checkpoint, repeated non-finite updates). */
export class TrainError extends Error {}

/** Consecutive non-finite updates after which the run stops. */
const MAX_CONSECUTIVE_SKIPS = 5;

function missingProgram(stage: string): never {
  throw new TrainError(`the compiled artifact has no programs for stage '${stage}'; recompile the plan`);
}

function loadResolved(o: TrainOptions): Pipeline {
  if (o.plan) return o.plan.pipeline;
  if (!o.pipelinePath) throw new TrainError("train: no pipeline given");
  const r = loadPipeline(o.pipelinePath, { set: o.set, text: o.pipelineText });
  if (!r.pipeline) throw new TrainError(`${o.pipelinePath} does not check:\n${formatAll(r)}`);
  return r.pipeline;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const gpu = o.gpu ?? (await Gpu.create());
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130); // a second Ctrl-C: stop now
    interrupted = true;
    process.stderr.write("\nacpo: interrupted; saving a checkpoint after this step (Ctrl-C again to stop at once)\n");
  };
  process.on("SIGINT", onSigint);
  try {
    return await runLoop(gpu, o, () => interrupted);
  } finally {
    process.off("SIGINT", onSigint);
    if (!o.gpu) await gpu.destroy();
  }
}

/** Messages from opening a run: warnings always (something was lost, repaired or taken over), notes unless quiet. */
function reportOpening(messages: { notes?: readonly string[]; warnings: readonly string[] }, quiet: boolean): void {
  for (const w of messages.warnings) process.stderr.write(`acpo: warning: ${w}\n`);
  if (!quiet) for (const n of messages.notes ?? []) process.stderr.write(`acpo: ${n}\n`);
}

/** What the run runs with: from the run's own directory when resuming, else from the options. */
function settingsOf(o: TrainOptions): RunSettings {
  try {
    checkGivenCounts(o);
    if (o.resume) return resumeSettings(resolve(o.resume), RunDir.storedConfig(o.resume), o);
    return freshSettings(loadResolved(o), o);
  } catch (e) {
    throw e instanceof SettingsError ? new TrainError(e.message) : e;
  }
}

/** Open (resume) or later create the run directory, and always close it: its lock must not outlive the loop. */
async function runLoop(gpu: Gpu, o: TrainOptions, interrupted: () => boolean): Promise<TrainResult> {
  // Settings first: arguments that conflict with a resumed run fail before anything in it changes.
  const settings = settingsOf(o);
  const resumed = o.resume ? RunDir.open(o.resume) : null;
  const held: { run: RunDir | null } = { run: resumed?.run ?? null };
  try {
    if (resumed) reportOpening(resumed, o.quiet === true);
    return await trainRun(gpu, o, interrupted, settings, resumed, held);
  } finally {
    held.run?.close();
  }
}

async function trainRun(gpu: Gpu, o: TrainOptions, interrupted: () => boolean, settings: RunSettings, resumed: Resumed | null, held: { run: RunDir | null }): Promise<TrainResult> {
  const { pipeline, seed, steps: totalSteps, set } = settings;
  const ck = resumed?.checkpoint ?? null;
  const task = taskFromPipeline(pipeline.task, dirname(pipeline.file));
  const policy = Policy.load(gpu, ck ? ck.dir : pipeline.model.path);
  const opt = pipeline.optimizer;
  if (opt.kind !== "adamw") throw new TrainError(`optimizer ${opt.kind} is not supported by the training loop yet (use adamw)`);
  const optimizer = new AdamWOptimizer(gpu, policy.weights, {
    lr: opt.lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, maxGradNorm: opt.clipGradNorm > 0 ? opt.clipGradNorm : Infinity,
  });
  // One path for both commands: `acpo train` compiles here, `acpo run` loaded the compiled plan.
  const artifact = o.plan ?? compileArtifact(pipeline);
  const stages = new StageSchedule(gpu, artifact);
  await stages.compile();
  if (totalSteps === null && opt.schedule !== "constant") {
    throw new TrainError(`the ${opt.schedule} learning-rate schedule needs a step count: pass --steps N (the stages end on conditions, not step counts)`);
  }
  const schedule: LrSchedule = { lr: opt.lr, warmupSteps: opt.warmupSteps, decay: opt.schedule, totalSteps: totalSteps ?? 1, minRatio: 0 };

  let rng = new Rng(seed);
  let step = 0, skipped = 0, consecutiveSkips = 0;
  let sampler: SamplerState = {};
  let run: RunDir;
  if (resumed) run = resumed.run;
  else {
    held.run = run = RunDir.create({ name: pipeline.name, out: o.outDir });
    reportOpening(run, o.quiet === true);
  }
  const log = (msg: string) => { if (!o.quiet) process.stderr.write(`${msg}\n`); };
  let initial: Policy | null = null;
  if (ck) {
    const c = ck;
    step = c.step;
    skipped = c.skippedUpdates;
    rng = new Rng(c.rng);
    sampler = c.loop as SamplerState;
    optimizer.loadState(c.optimizer.t, c.optimizer.tensors);
    stages.index = pipeline.stages.findIndex((s) => s.name === c.stage);
    if (stages.index < 0) throw new TrainError(`${c.dir}: stage '${c.stage}' is not in the pipeline`);
    stages.startStep = c.stageStartStep;
    for (const [name, ck] of Object.entries(c.references)) stages.restoreFrozen(name, new GpuWeights(gpu, ck.config, ck.weights));
    log(`acpo: resuming ${run.path} at step ${step} (stage ${c.stage})`);
  } else {
    // A run started over by --resume keeps the configuration it was started with.
    if (!resumed) run.writeConfig({ pipeline, seed, adapter: gpu.info, set, argv: o.argv, steps: totalSteps });
    stages.freeze("initial", policy.weights);
  }
  const attribution = pipeline.attribution && pipeline.segment ? pipeline.attribution : null;
  if (attribution?.judge.kind === "initial" && !ck) initial = new Policy(gpu, policy.checkpoint, policy.tokenizer, GpuWeights.clone(gpu, policy.weights));
  if (attribution?.judge.kind === "initial" && ck) {
    const ref = ck.references.initial;
    if (!ref) throw new TrainError(`${ck.dir}: the run's initial policy (the attribution judge) is missing from the checkpoint`);
    initial = new Policy(gpu, ref, policy.tokenizer, new GpuWeights(gpu, ref.config, ref.weights));
  }
  const judges = new Map<string, Policy>();
  const loadJudge = (path: string): Policy => {
    if (!judges.has(path)) judges.set(path, Policy.load(gpu, path));
    return judges.get(path)!;
  };
  const rules = segmentRules(pipeline.segment);
  const params = paramValues(pipeline);
  const programOf = (name: string) => artifact.programs.get(name) ?? missingProgram(name);
  const conditions = new Map(pipeline.stages.map((s) => [s.name, new StageCondition(programOf(s.name).until, params)]));
  const priorities = new Map(pipeline.stages.filter((s) => s.sampling.kind === "curriculum").map((s) => [s.name, new CurriculumPriority(s, programOf(s.name).priority, params)]));
  const progress = new Progress({ total: totalSteps, quiet: o.quiet === true });
  let lastMetrics: StepMetrics | null = null, lastEval: EvalRecord | null = null;
  let finished = false;
  /** Ended early by Ctrl-C (a run whose last step completes anyway is not "stopped"). */
  let stopped = false;

  const saveCheckpoint = async () => {
    const references: Record<string, Awaited<ReturnType<GpuWeights["download"]>>> = {};
    for (const [name, w] of stages.frozenWeights()) references[name] = await w.download();
    if (initial && !references.initial) references.initial = await initial.weights.download();
    run.saveCheckpoint({
      step, stage: stages.stage.name, stageStartStep: stages.startStep, skippedUpdates: skipped, rng: rng.state(), loop: sampler,
      policy: { ...policy.checkpoint, weights: await policy.weights.download() },
      optimizer: await optimizer.state(),
      references,
    });
  };

  const runEval = async (ev: Pipeline["evals"][number], at: number, stageName: string): Promise<EvalRecord> => {
    const r = await evaluate(policy, task, { split: ev.split, problems: ev.problems, k: ev.samples, temperature: ev.temperature, topP: ev.topP, maxNewTokens: ev.maxTokens, seed: seed + 17 });
    const metricsOut: Record<string, number> = { greedy: r.greedyAccuracy ?? NaN };
    for (const m of ev.metrics) metricsOut[`${m.kind}@${m.k}`] = metricValue(r, m);
    const rec: EvalRecord = { step: at, stage: stageName, split: r.split, problems: r.problems, samples: ev.samples, temperature: ev.temperature, metrics: metricsOut, mean_response_tokens: r.meanResponseTokens };
    run.appendEval(rec);
    progress.note(`eval at step ${at}: ${Object.entries(metricsOut).map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join("  ")}`);
    return rec;
  };
  let firstEval: EvalRecord | null = null;

  try {
    // The starting policy's scores, so every run shows where it began (eval.jsonl step 0).
    if (!ck) {
      for (const ev of pipeline.evals) {
        const rec = await runEval(ev, 0, stages.stage.name);
        firstEval ??= rec;
      }
    }
    while (!finished && (totalSteps === null || step < totalSteps)) {
      const tStart = performance.now();
      const stage = stages.stage;
      const stepSeed = rng.nextU32();
      const judgeSpec = attribution ? resolveJudge(attribution.judge, policy, initial, loadJudge) : null;
      const collected = await collectRollouts(policy, task, pipeline, stage, rules, {
        seed: stepSeed, keepCache: judgeSpec?.reuseRolloutCache === true, state: sampler, rng,
        counters: { steps: step - stages.startStep, totalSteps: step }, log, priority: priorities.get(stage.name) ?? null,
      });
      sampler = collected.state;
      const trajs = collected.trajectories;
      const tAttr = performance.now();
      if (attribution && judgeSpec && trajs.length > 0) {
        const C = await attributeSteps(judgeSpec.judge, collected.cache, trajs.map((t, i) => ({ ...t, cacheRow: collected.cacheRows[i] })), attribution.measure);
        trajs.forEach((t, i) => (t.C = C[i]!));
      }
      collected.cache?.release();
      const tUpdate = performance.now();
      step++;
      const lr = lrAt(schedule, step);
      let result = null;
      if (trajs.length > 0) {
        result = await policyUpdate(
          { gpu, model: policy.model, optimizer, runner: stages.runner, reference: stages.reference() },
          trajs,
          {
            lr, ppoEpochs: opt.ppoEpochs, minibatches: opt.minibatches,
            rolloutLogpIsPolicy: pipeline.rollout.temperature === 1 && pipeline.rollout.topP >= 1 && pipeline.rollout.topK === 0,
            temperature: pipeline.rollout.temperature,
            counters: { steps: step - stages.startStep, totalSteps: step, seed: stepSeed },
          },
        );
        skipped += result.skipped;
        consecutiveSkips = result.updates === 0 ? consecutiveSkips + 1 : 0;
      }
      const tEnd = performance.now();
      const metrics = stepMetrics(step, stage.name, collected.generated, trajs, result?.summary ?? null, {
        gradNorm: result?.gradNorm ?? NaN, lr, skipped, sampling: collected.sampling,
        times: {
          rollout: collected.seconds.generate, verify: collected.seconds.verify,
          segmentAttribution: collected.seconds.segment + (tUpdate - tAttr) / 1000,
          update: (tEnd - tUpdate) / 1000, total: (tEnd - tStart) / 1000,
        },
      });
      run.appendMetrics(metrics);
      lastMetrics = metrics;
      if (result?.firstPass) {
        const { trajs: first, batch, tok, refLogp } = result.firstPass;
        const lines = pickSamples(first, o.samplesPerStep ?? 4).map((i) => {
          const t = first[i]!;
          const start = i * batch.T + t.promptIds.length - 1; // target slot of response token 0
          const end = start + t.responseIds.length;
          return sampleLine(t, { logp: tok.logp!.subarray(start, end), entropy: tok.H!.subarray(start, end), refLogp: refLogp?.subarray(start, end) ?? null }, { step, stage: stage.name });
        });
        run.appendSamples(lines);
        batch.release();
      }
      progress.update(metrics);
      if (consecutiveSkips >= MAX_CONSECUTIVE_SKIPS) {
        await saveCheckpoint();
        throw new TrainError(`${MAX_CONSECUTIVE_SKIPS} updates in a row had a non-finite loss or gradient norm (step ${step}); the last checkpoint is in ${run.path}. Lower the learning rate or check the pipeline's expressions (acpo replay).`);
      }
      // Stage transition: `until` is evaluated after each optimizer step on its batch.
      if (conditions.get(stage.name)!.holds(trajs, { steps: step - stages.startStep, totalSteps: step }, { seed: stepSeed })) {
        const hasNext = stages.advance(policy.weights, step);
        if (hasNext) log(`acpo: stage '${stage.name}' ended at step ${step}; entering '${stages.stage.name}'`);
        else finished = true;
      }
      const last = finished || (totalSteps !== null && step >= totalSteps);
      for (const ev of pipeline.evals) if (step % ev.every === 0 || last) lastEval = await runEval(ev, step, stage.name);
      if (last || interrupted() || step % (o.checkpointEvery ?? 25) === 0) await saveCheckpoint();
      if (interrupted() && !last) {
        log(`acpo: stopped at step ${step}; continue with: npx acpo train --resume ${run.path}`);
        stopped = true;
        break;
      }
    }
  } finally {
    progress.done();
    run.close();
    optimizer.release();
    stages.release();
    initial?.release();
    for (const j of judges.values()) j.release();
    policy.release();
  }
  return { runDir: run.path, steps: step, lastMetrics, firstEval, lastEval, interrupted: stopped };
}
