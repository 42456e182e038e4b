// The RL training loop: a pipeline (or a compiled plan) in, a run directory out.
//
// Per optimizer step: choose prompts (all / dynamic sampling / curriculum) -> G rollouts per
// prompt on the GPU -> verify -> segment (rollout entropies) -> attribution C per step with
// the judge, reusing the rollout's KV cache -> the stage's compiled loss kernels -> backward
// -> AdamW -> metrics, samples, stage transition, evaluation, checkpoint.
// Everything random flows from one seeded RNG whose state is checkpointed, and the kernels
// are deterministic, so `--resume` continues a killed run with the same numbers.
//
// Shape: train() -> runLoop (settings, the run directory's lock) -> trainRun, which drives a
// TrainingRun: open (build; restore from a checkpoint or begin at step 0) -> evaluateStart
// -> per step oneStep (rollouts .. update, metrics, samples) and afterStep (stage switch,
// evaluation, checkpoint, Ctrl-C) -> release.
import { dirname, resolve } from "node:path";
import { type Attribution, formatAll, loadPipeline, type Pipeline, type Stage } from "../../../compiler/index.js";
import { type Artifact, compileArtifact, paramValues } from "../../../compiler/plan/artifact.js";
import type { Task } from "../../engine/tasks/types.js";
import { evaluate, metricValue } from "../eval/evaluate.js";
import { Gpu } from "../../engine/gpu.js";
import { AdamWOptimizer } from "../../engine/model/optimizer.js";
import { tuneMatmuls } from "../../engine/ops/matmul.js";
import { Policy } from "../../engine/model/policy.js";
import { PLAIN_PROMPT } from "../../engine/model/tokenizer.js";
import { GpuWeights, type PrecisionChoice, precisionOf } from "../../engine/model/weights.js";
import { Rng } from "../../engine/rng.js";
import { type LrSchedule, lrAt } from "../../engine/model/lr-schedule.js";
import { attributeSteps, resolveJudge } from "./attribution.js";
import { StepJudge } from "./judge.js";
import { mcValues } from "./mc-values.js";
import { collectRollouts, type SamplerState } from "./prompt-sampler.js";
import { stepMetrics } from "./metrics.js";
import { StepBatch } from "./step-batch.js";
import { Progress } from "../run/progress.js";
import { segmentRules } from "./rollout.js";
import { RunDir, type Resumed } from "../run/run-dir.js";
import { type RunSettings, SettingsError, checkGivenCounts, freshSettings, resumeSettings } from "../run/run-resume.js";
import { pickSamples, sampleLine } from "../run/run-dir-samples.js";
import { StageChain } from "./stages.js";
import { taskFromPipeline } from "./task-of.js";
import type { EvalRecord, StepMetrics, Trajectory } from "./types.js";
import { CurriculumPriority, StageCondition } from "./until.js";
import type { PhaseProbe } from "./phase-probe.js";
import { policyUpdate, type UpdateResult } from "./update.js";
import type { LoadedCheckpoint } from "../run/checkpoint-files.js";
import type { SegmentRules } from "./segment.js";

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
   * absent or agree with them (runtime/loop/run/run-resume.ts).
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
  /** Marks each step's phases for a step profile (bench/suites/step-profile.ts); absent in ordinary runs. */
  probe?: PhaseProbe;
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
  const t = await TrainingRun.open(gpu, o, interrupted, settings, resumed, held);
  try {
    await t.evaluateStart();
    while (!t.finished && (t.totalSteps === null || t.step < t.totalSteps)) {
      const done = await t.oneStep();
      if ((await t.afterStep(done)) === "stopped") break;
      // Matmul shapes this adapter met for the first time: time their schedules once (cached on disk; ops/matmul-autotune.ts).
      await tuneMatmuls(gpu, { log: o.quiet ? undefined : (m) => process.stderr.write(`${m}\n`) });
    }
  } finally {
    t.release();
  }
  return t.result();
}

/** What one optimizer step produced, for what follows it (evaluation, checkpoint, stage switch). */
interface StepDone {
  stage: Stage;
  stepSeed: number;
  /** The step's CPU batch: its trajectories' rows, which the update, samples and `until` all read. */
  batch: StepBatch;
}

/**
 * One run of the loop: the policy, optimizer, stages and run directory, the counters and
 * random state that checkpoints keep, and the step's phases as methods.
 */
class TrainingRun {
  step = 0;
  private skipped = 0;
  private consecutiveSkips = 0;
  private rng: Rng;
  private sampler: SamplerState = {};
  /** The attribution judge "initial": the starting policy, frozen. */
  private initial: Policy | null = null;
  private readonly judges = new Map<string, Policy>();
  finished = false;
  /** Ended early by Ctrl-C (a run whose last step completes anyway is not "stopped"). */
  private stopped = false;
  private lastMetrics: StepMetrics | null = null;
  private lastEval: EvalRecord | null = null;
  private firstEval: EvalRecord | null = null;
  private readonly pipeline: Pipeline;
  /** The policy's weight precision (`model { precision }`), also that of every frozen copy. */
  private readonly precision: PrecisionChoice;
  readonly totalSteps: number | null;
  private readonly attribution: Attribution | null;
  private readonly rules: SegmentRules | null;
  private readonly conditions: Map<string, StageCondition>;
  private readonly priorities: Map<string, CurriculumPriority>;
  /** Created once the run is restored or begun, so its clock starts with the first step. */
  private progress!: Progress;
  /** Continued from a checkpoint (then there is no step-0 evaluation). */
  private fromCheckpoint = false;

  private constructor(
    private readonly gpu: Gpu,
    private readonly o: TrainOptions,
    private readonly interrupted: () => boolean,
    private readonly settings: RunSettings,
    artifact: Artifact,
    private readonly task: Task,
    private readonly policy: Policy,
    private readonly optimizer: AdamWOptimizer,
    private readonly stages: StageChain,
    private readonly lrSchedule: LrSchedule,
    private readonly run: RunDir,
    /** The `judge` block's frozen model (judge_score), loaded once before the run directory exists. */
    private readonly stepJudge: StepJudge | null,
  ) {
    this.pipeline = settings.pipeline;
    this.precision = precisionOf(this.pipeline.model);
    this.totalSteps = settings.steps;
    this.rng = new Rng(settings.seed);
    this.attribution = this.pipeline.attribution && this.pipeline.segment ? this.pipeline.attribution : null;
    this.rules = segmentRules(this.pipeline.segment);
    const params = paramValues(this.pipeline);
    const programOf = (name: string) => artifact.programs.get(name) ?? missingProgram(name);
    this.conditions = new Map(this.pipeline.stages.map((s) => [s.name, new StageCondition(programOf(s.name).until, params)]));
    this.priorities = new Map(this.pipeline.stages.filter((s) => s.sampling.kind === "curriculum").map((s) => [s.name, new CurriculumPriority(s, programOf(s.name).priority, params)]));
  }

  /** Build everything the loop drives, and continue from the checkpoint when resuming. */
  static async open(gpu: Gpu, o: TrainOptions, interrupted: () => boolean, settings: RunSettings, resumed: Resumed | null, held: { run: RunDir | null }): Promise<TrainingRun> {
    const { pipeline, steps: totalSteps } = settings;
    const ck = resumed?.checkpoint ?? null;
    const task = taskFromPipeline(pipeline.task, dirname(pipeline.file));
    const policy = Policy.load(gpu, ck ? ck.dir : pipeline.model.path, precisionOf(pipeline.model));
    policy.tokenizer.promptFormat = pipeline.task.prompt ?? PLAIN_PROMPT; // plain or the chat template (task chat/system)
    const stepJudge = pipeline.judge && pipeline.segment ? StepJudge.open(gpu, pipeline.judge, policy.tokenizer, pipeline.rollout.maxTokens) : null;
    const opt = pipeline.optimizer;
    if (opt.kind !== "adamw") throw new TrainError(`optimizer ${opt.kind} is not supported by the training loop yet (use adamw)`);
    const optimizer = new AdamWOptimizer(gpu, policy.weights, {
      lr: opt.lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, maxGradNorm: opt.clipGradNorm > 0 ? opt.clipGradNorm : Infinity,
    });
    // One path for both commands: `acpo train` compiles here, `acpo run` loaded the compiled plan.
    const artifact = o.plan ?? compileArtifact(pipeline);
    const stages = new StageChain(gpu, artifact);
    await stages.compile();
    if (totalSteps === null && opt.schedule !== "constant") {
      throw new TrainError(`the ${opt.schedule} learning-rate schedule needs a step count: pass --steps N (the stages end on conditions, not step counts)`);
    }
    const lrSchedule: LrSchedule = { lr: opt.lr, warmupSteps: opt.warmupSteps, decay: opt.schedule, totalSteps: totalSteps ?? 1, minRatio: 0 };
    let run: RunDir;
    if (resumed) run = resumed.run;
    else {
      held.run = run = RunDir.create({ name: pipeline.name, out: o.outDir });
      reportOpening(run, o.quiet === true);
    }
    const t = new TrainingRun(gpu, o, interrupted, settings, artifact, task, policy, optimizer, stages, lrSchedule, run, stepJudge);
    if (ck) t.restore(ck);
    else t.begin(resumed !== null);
    t.progress = new Progress({ total: totalSteps, quiet: o.quiet === true });
    return t;
  }

  private log(msg: string): void {
    if (!this.o.quiet) process.stderr.write(`${msg}\n`);
  }

  /** Continue from a checkpoint: counters, random state, sampler, optimizer, stage and frozen policies. */
  private restore(c: LoadedCheckpoint): void {
    const { gpu, stages } = this;
    this.fromCheckpoint = true;
    this.step = c.step;
    this.skipped = c.skippedUpdates;
    this.rng = new Rng(c.rng);
    this.sampler = c.sampler as SamplerState;
    this.optimizer.loadState(c.optimizer.t, c.optimizer.tensors);
    stages.index = this.pipeline.stages.findIndex((s) => s.name === c.stage);
    if (stages.index < 0) throw new TrainError(`${c.dir}: stage '${c.stage}' is not in the pipeline`);
    stages.startStep = c.stageStartStep;
    for (const [name, ref] of Object.entries(c.references)) stages.restoreFrozen(name, new GpuWeights(gpu, ref.config, ref.weights, this.precision));
    this.log(`acpo: resuming ${this.run.path} at step ${this.step} (stage ${c.stage})`);
    if (this.attribution?.judge.kind === "initial") {
      const ref = c.references.initial;
      if (!ref) throw new TrainError(`${c.dir}: the run's initial policy (the attribution judge) is missing from the checkpoint`);
      this.initial = new Policy(gpu, ref, this.policy.tokenizer, new GpuWeights(gpu, ref.config, ref.weights, this.precision));
    }
  }

  /** Start from step 0: record the configuration (a run started over by --resume keeps its own) and freeze the initial policy. */
  private begin(startedOver: boolean): void {
    const { pipeline, seed, steps, set } = this.settings;
    if (!startedOver) this.run.writeConfig({ pipeline, seed, adapter: this.gpu.info, set, argv: this.o.argv, steps });
    this.stages.freeze("initial", this.policy.weights);
    if (this.attribution?.judge.kind === "initial") {
      this.initial = new Policy(this.gpu, this.policy.checkpoint, this.policy.tokenizer, GpuWeights.clone(this.gpu, this.policy.weights));
    }
  }

  private loadJudge(path: string): Policy {
    if (!this.judges.has(path)) this.judges.set(path, Policy.load(this.gpu, path));
    return this.judges.get(path)!;
  }

  /** The starting policy's scores, so every run shows where it began (eval.jsonl step 0); not when resuming. */
  async evaluateStart(): Promise<void> {
    if (this.fromCheckpoint) return;
    for (const ev of this.pipeline.evals) {
      const rec = await this.runEval(ev, 0, this.stages.stage.name);
      this.firstEval ??= rec;
    }
  }

  /** One optimizer step: rollouts, attribution, the policy update, and its metrics and samples. */
  async oneStep(): Promise<StepDone> {
    const { pipeline, stages, policy, attribution } = this;
    const probe = this.o.probe;
    await probe?.at("between steps");
    const tStart = performance.now();
    const stage = stages.stage;
    const stepSeed = this.rng.nextU32();
    const judgeSpec = attribution ? resolveJudge(attribution.judge, policy, this.initial, (p) => this.loadJudge(p)) : null;
    const collected = await collectRollouts(policy, this.task, pipeline, stage, this.rules, {
      seed: stepSeed, keepCache: judgeSpec?.reuseRolloutCache === true, state: this.sampler, rng: this.rng,
      counters: { steps: this.step - stages.startStep, totalSteps: this.step }, log: (m) => this.log(m), priority: this.priorities.get(stage.name) ?? null, probe,
    });
    this.sampler = collected.state;
    const trajs = collected.trajectories;
    const tAttr = performance.now();
    if (attribution && judgeSpec && trajs.length > 0) {
      const C = await attributeSteps(judgeSpec.judge, collected.cache, trajs.map((t, i) => ({ ...t, cacheRow: collected.cacheRows[i] })), attribution.measure);
      trajs.forEach((t, i) => (t.C = C[i]!));
    }
    collected.cache?.release();
    // VinePPO's Monte-Carlo step values (mc_value, mc_next), under the policy that sampled the step.
    const mcK = pipeline.rollout.mcRollouts;
    if (mcK !== undefined && trajs.length > 0) await mcValues(policy, this.task, trajs, pipeline.rollout, mcK, (stepSeed ^ 0x5bd1e995) >>> 0);
    // A generative process reward model's step scores (judge_score), after the steps are known.
    if (this.stepJudge && trajs.length > 0) await this.stepJudge.score(trajs);
    await probe?.at("attribution");
    const tUpdate = performance.now();
    const batch = new StepBatch(trajs); // every step table derived once, after every per-step value is in
    this.step++;
    const lr = lrAt(this.lrSchedule, this.step);
    const result = trajs.length > 0 ? await this.update(batch, lr, stepSeed) : null;
    const tEnd = performance.now();
    const metrics = stepMetrics(this.step, stage.name, collected.generated, trajs, result?.summary ?? null, {
      gradNorm: result?.gradNorm ?? NaN, lr, skipped: this.skipped, sampling: collected.sampling,
      times: {
        rollout: collected.seconds.generate, verify: collected.seconds.verify,
        segmentAttribution: collected.seconds.segment + (tUpdate - tAttr) / 1000,
        update: (tEnd - tUpdate) / 1000, total: (tEnd - tStart) / 1000,
      },
    });
    this.run.appendMetrics(metrics);
    this.lastMetrics = metrics;
    if (result?.firstPass) this.writeSamples(result.firstPass, stage.name);
    this.progress.update(metrics);
    await probe?.at("metrics + samples");
    return { stage, stepSeed, batch };
  }

  /** The stage's loss on the step's trajectories, backward and AdamW (runtime/loop/rl/update.ts); counts skipped updates. */
  private async update(batch: StepBatch, lr: number, stepSeed: number): Promise<UpdateResult> {
    const { pipeline, stages } = this;
    const opt = pipeline.optimizer;
    const result = await policyUpdate(
      { gpu: this.gpu, model: this.policy.model, optimizer: this.optimizer, runner: stages.runner, reference: stages.reference() },
      batch,
      {
        lr, ppoEpochs: opt.ppoEpochs, minibatches: opt.minibatches,
        rolloutLogpIsPolicy: pipeline.rollout.temperature === 1 && pipeline.rollout.topP >= 1 && pipeline.rollout.topK === 0,
        temperature: pipeline.rollout.temperature,
        counters: { steps: this.step - stages.startStep, totalSteps: this.step, seed: stepSeed },
        probe: this.o.probe,
      },
    );
    this.skipped += result.skipped;
    this.consecutiveSkips = result.updates === 0 ? this.consecutiveSkips + 1 : 0;
    return result;
  }

  /** samples.jsonl: a few of the first pass's trajectories with their per-token values. */
  private writeSamples(firstPass: NonNullable<UpdateResult["firstPass"]>, stageName: string): void {
    const { trajs: first, rows, batch, tok, refLogp } = firstPass;
    const lines = pickSamples(first, this.o.samplesPerStep ?? 4).map((i) => {
      const t = first[i]!;
      const start = i * batch.T + t.promptIds.length - 1; // target slot of response token 0
      const end = start + t.responseIds.length;
      return sampleLine(t, { logp: tok.logp!.subarray(start, end), entropy: tok.H!.subarray(start, end), refLogp: refLogp?.subarray(start, end) ?? null }, { step: this.step, stage: stageName, promptRendered: this.policy.tokenizer.decode(t.promptIds) }, rows[i]);
    });
    this.run.appendSamples(lines);
    batch.release();
  }

  /** After a step: stop on repeated non-finite updates, switch stage, evaluate, checkpoint, stop on Ctrl-C. */
  async afterStep(done: StepDone): Promise<"continue" | "stopped"> {
    const { step, stages } = this;
    if (this.consecutiveSkips >= MAX_CONSECUTIVE_SKIPS) {
      await this.saveCheckpoint();
      throw new TrainError(`${MAX_CONSECUTIVE_SKIPS} updates in a row had a non-finite loss or gradient norm (step ${step}); the last checkpoint is in ${this.run.path}. Lower the learning rate or check the pipeline's expressions (acpo replay).`);
    }
    // Stage transition: `until` is evaluated after each optimizer step on its batch.
    if (this.conditions.get(done.stage.name)!.holds(done.batch, { steps: step - stages.startStep, totalSteps: step }, { seed: done.stepSeed })) {
      const hasNext = stages.advance(this.policy.weights, step);
      if (hasNext) this.log(`acpo: stage '${done.stage.name}' ended at step ${step}; entering '${stages.stage.name}'`);
      else this.finished = true;
    }
    const last = this.finished || (this.totalSteps !== null && step >= this.totalSteps);
    for (const ev of this.pipeline.evals) if (step % ev.every === 0 || last) this.lastEval = await this.runEval(ev, step, done.stage.name);
    if (last || this.interrupted() || step % (this.o.checkpointEvery ?? 25) === 0) await this.saveCheckpoint();
    if (this.interrupted() && !last) {
      this.log(`acpo: stopped at step ${step}; continue with: npx acpo train --resume ${this.run.path}`);
      this.stopped = true;
      return "stopped";
    }
    return "continue";
  }

  private async saveCheckpoint(): Promise<void> {
    const references: Record<string, Awaited<ReturnType<GpuWeights["download"]>>> = {};
    for (const [name, w] of this.stages.frozenWeights()) references[name] = await w.download();
    if (this.initial && !references.initial) references.initial = await this.initial.weights.download();
    this.run.saveCheckpoint({
      step: this.step, stage: this.stages.stage.name, stageStartStep: this.stages.startStep, skippedUpdates: this.skipped, rng: this.rng.state(), sampler: this.sampler,
      policy: { ...this.policy.checkpoint, weights: await this.policy.weights.download() },
      optimizer: await this.optimizer.state(),
      references,
    });
  }

  private async runEval(ev: Pipeline["evals"][number], at: number, stageName: string): Promise<EvalRecord> {
    const r = await evaluate(this.policy, this.task, { split: ev.split, problems: ev.problems, k: ev.samples, temperature: ev.temperature, topP: ev.topP, maxNewTokens: ev.maxTokens, seed: this.settings.seed + 17 });
    const metricsOut: Record<string, number> = { greedy: r.greedyAccuracy ?? NaN };
    for (const m of ev.metrics) metricsOut[`${m.kind}@${m.k}`] = metricValue(r, m);
    const rec: EvalRecord = { step: at, stage: stageName, split: r.split, problems: r.problems, samples: ev.samples, temperature: ev.temperature, metrics: metricsOut, mean_response_tokens: r.meanResponseTokens };
    this.run.appendEval(rec);
    this.progress.note(`eval at step ${at}: ${Object.entries(metricsOut).map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join("  ")}`);
    return rec;
  }

  release(): void {
    this.progress.done();
    this.run.close();
    this.optimizer.release();
    this.stages.release();
    this.initial?.release();
    for (const j of this.judges.values()) j.release();
    this.policy.release();
  }

  result(): TrainResult {
    return { runDir: this.run.path, steps: this.step, lastMetrics: this.lastMetrics, firstEval: this.firstEval, lastEval: this.lastEval, interrupted: this.stopped };
  }
}
