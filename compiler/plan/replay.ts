// `acpo replay`: run one stage's compiled kernels (or, with `interpret`, the interpreter)
// on a recorded batch and report per response, step and token what the pipeline did to
// credit. The JSON shape is specified in spec/batch.md ("Replay output").
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Pipeline } from "../pipeline.js";
import { generateStage } from "../codegen/index.js";
import { StageRunner } from "../codegen/runner.js";
import { releaseInputs, uploadRows } from "../codegen/upload.js";
import { interpretStage } from "../interpret/stage.js";
import type { Summary } from "../interpret/summary.js";
import { lowerStage } from "../ir/stage.js";
import { BatchError, type BatchFile } from "./batch-file.js";

type Num = number | null;

export interface ReplayJson {
  pipeline: string;
  stage: string;
  engine: "gpu" | "interpreter";
  loss: Num;
  summary: Record<string, Num>;
  /** Named group- and batch-level values (lets, fn results). */
  groups: Record<string, Num>[];
  batch: Record<string, Num>;
  sequences: {
    group: number;
    reward: number;
    base_advantage: Num;
    values: Record<string, Num>;
    steps: ({ C: Num } & Record<string, Num>)[];
    tokens: {
      advantage: Num; weight: Num; mask: boolean; ratio: Num; clip_low: boolean; clip_high: boolean;
      dual_clip: boolean; kl: Num; token_loss: Num; loss: Num;
    }[];
  }[];
}

/** A finite number, or null for NaN/inf (JSON has neither). f32 results keep 7 digits. */
const out = (x: number, f32: boolean): Num => (Number.isFinite(x) ? (f32 ? Number(Math.fround(x).toPrecision(7)) : x) : null);

export async function replay(pipeline: Pipeline, stageName: string | undefined, file: BatchFile, path: string, opts: { gpu?: Gpu; params?: Record<string, number> } = {}): Promise<ReplayJson> {
  const stage = stageName === undefined ? pipeline.stages[0]! : pipeline.stages.find((s) => s.name === stageName);
  if (!stage) throw new BatchError(`pipeline ${pipeline.name} has no stage '${stageName}' (stages: ${pipeline.stages.map((s) => s.name).join(", ")})`);
  const prog = lowerStage(pipeline, stage);
  // Logits are read as the training loop reads them: divided by the rollout temperature.
  const b = { ...file.batch, temperature: pipeline.rollout.temperature };
  if (prog.uses.rollout && !file.has.rollout) throw new BatchError(`${path}: stage '${stage.name}' reads the sampler's log-probs (rollout_logp, tis_cap); every trajectory needs 'rollout_logp'`);
  if (prog.uses.ref && !file.has.ref) throw new BatchError(`${path}: stage '${stage.name}' compares with a reference policy; every trajectory needs 'ref_logp'`);
  if (prog.nodes.some((n) => n.op === "input" && n.name === "format") && !file.has.format) throw new BatchError(`${path}: the pipeline uses the verifier's format check; every trajectory needs 'format' (true or false) or samples.jsonl's 'answer'`);
  if (prog.nodes.some((n) => n.op === "input" && n.name === "step_reward") && !file.has.stepReward) throw new BatchError(`${path}: the pipeline uses the step checker's rewards (step_reward); every trajectory needs 'step_reward' (one per step)`);
  if (prog.nodes.some((n) => n.op === "input" && (n.name === "mc_value" || n.name === "mc_next")) && !file.has.mc) throw new BatchError(`${path}: the pipeline uses Monte-Carlo step values (mc_value, mc_next); every trajectory needs 'mc_value' (one per step)`);
  if (prog.nodes.some((n) => n.op === "input" && n.name === "judge_score") && !file.has.judge) throw new BatchError(`${path}: the pipeline uses the judge model's step scores (judge_score); every trajectory needs 'judge_score' (one per step)`);
  if (prog.nodes.some((n) => n.op === "input" && n.name === "C") && !file.has.C) throw new BatchError(`${path}: the pipeline uses the attribution score C; every trajectory needs 'C' (one per step)`);
  const params = { ...prog.params, ...opts.params };
  const dims = { B: b.B, T: b.T, S: b.S, NG: b.nGroups };
  let tokens: Record<string, ArrayLike<number>>;
  let named: { name: string; level: string; values: ArrayLike<number> }[];
  let summary: Summary;
  const f32 = opts.gpu !== undefined;
  if (opts.gpu) {
    const runner = new StageRunner(opts.gpu, generateStage(prog));
    // The rows, packed as the training step packs its own (codegen/upload.ts): the Batch is the interpreter's.
    const inp = uploadRows(opts.gpu, file.rows, file.policy, file.counters, b.temperature);
    inp.params = params;
    const o = runner.run(inp);
    tokens = await runner.readTokens(o, b.B * b.T);
    named = await runner.readNamed(o, dims);
    summary = await runner.readSummary(o);
    runner.release(o);
    releaseInputs(opts.gpu, inp);
  } else {
    const r = interpretStage(prog, b, { params });
    tokens = r.tokens as unknown as Record<string, ArrayLike<number>>;
    named = r.named;
    summary = r.summary;
  }
  const at = (name: string, level: string, i: number): Num => {
    const v = named.find((x) => x.name === name && x.level === level);
    return v ? out(v.values[i]!, f32) : null;
  };
  const namesAt = (level: string) => named.filter((x) => x.level === level && x.name !== "base_advantage");
  const record = (level: string, i: number) => Object.fromEntries(namesAt(level).map((x) => [x.name, out(x.values[i]!, f32)]));
  const sequences: ReplayJson["sequences"] = [];
  for (let i = 0; i < b.B; i++) {
    const steps: ReplayJson["sequences"][number]["steps"] = [];
    for (let s = 0; s < b.S && b.stepLength[i * b.S + s]! > 0; s++) steps.push({ C: out(b.C[i * b.S + s]!, false), ...record("step", i * b.S + s) });
    const toks: ReplayJson["sequences"][number]["tokens"] = [];
    for (let t = 0; t < file.lengths[i]!; t++) {
      const n = i * b.T + t;
      const c = (k: string) => out(tokens[k]![n]!, f32);
      toks.push({
        advantage: c("advantage"), weight: c("weight"), mask: tokens.mask![n] !== 0, ratio: c("ratio"),
        clip_low: tokens.clipLow![n] !== 0, clip_high: tokens.clipHigh![n] !== 0, dual_clip: tokens.dual![n] !== 0,
        kl: c("kl"), token_loss: c("tokenLoss"), loss: c("contribution"),
      });
    }
    sequences.push({ group: file.groups[i]!, reward: b.reward[i]!, base_advantage: at("base_advantage", "sequence", i), values: record("sequence", i), steps, tokens: toks });
  }
  return {
    pipeline: pipeline.name,
    stage: stage.name,
    engine: f32 ? "gpu" : "interpreter",
    loss: out(summary.loss, f32),
    summary: Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, out(v, f32)])),
    groups: Array.from({ length: b.nGroups }, (_, g) => record("group", g)),
    batch: record("batch", 0),
    sequences,
  };
}
