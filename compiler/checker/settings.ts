// The settings blocks: model, task, rollout, optimizer, segment, attribution, loss, eval.
// Each decoder reads its block with explicit defaults, so the resolved pipeline states
// every constant (the defaults and their sources are listed in spec/language.md).
import { dirname, isAbsolute, resolve } from "node:path";
import type * as A from "../ast.js";
import type { Diagnostics } from "../diagnostics.js";
import { MAX_BATCH_ROWS, MAX_MC_ROLLOUTS, MAX_NEW_TOKENS } from "../limits.js";
import type * as P from "../pipeline.js";
import { MAX_SPLIT_SIZE } from "../../runtime/engine/tasks/split-pool.js";
import { BlockReader } from "./block.js";
import type { ExprChecker } from "./expr.js";

export interface SettingsCtx {
  diags: Diagnostics;
  exprs: ExprChecker;
}

function reader(ctx: SettingsCtx, what: string, s: A.Setting, allowed: readonly string[]): BlockReader {
  return new BlockReader(what, s.block ?? [], allowed, s.blockSpan ?? s.span, ctx.diags, ctx.exprs);
}

/** A path as written, made absolute against the directory of the file that wrote it. */
export function pathFrom(written: string, span: A.Span): string {
  if (isAbsolute(written)) return written;
  return resolve(dirname(span.file.startsWith("--set[") ? "." : span.file), written);
}

/** Check the setting has no value (`rollout { ... }`, not `rollout fast { ... }`). */
function noValue(ctx: SettingsCtx, s: A.Setting): boolean {
  if (s.value) {
    ctx.diags.error("E0402", `\`${s.key}\` takes a block only: ${s.key} { ... }`, s.value.span);
    return false;
  }
  return true;
}

function kindOf<T extends string>(ctx: SettingsCtx, s: A.Setting, kinds: readonly T[]): T | undefined {
  const r = new BlockReader(s.key, [], [], s.span, ctx.diags, ctx.exprs);
  return r.wordOf(s, kinds);
}

export const PRECISIONS = ["f32", "f16"] as const;

/**
 * `model "DIR"`, optionally with a block: `model "DIR" { precision f16 }` stores the linear
 * weights as f16 (runtime/engine/model/weights.ts). The precision is kept only when written.
 */
export function decodeModel(ctx: SettingsCtx, s: A.Setting): P.Pipeline["model"] | undefined {
  const r = reader(ctx, "`model`", s, ["precision"]);
  const precision = r.has("precision") ? r.word("precision", PRECISIONS) : undefined;
  const v = s.value;
  if (!v || v.kind !== "expr" || v.expr.kind !== "string") {
    ctx.diags.error("E0402", "`model` takes a folder in double quotes", v?.span ?? s.keySpan, 'e.g. model "../models/countdown-tiny" { precision f16 }');
    return undefined;
  }
  if (!r.ok) return undefined;
  return { path: pathFrom(v.expr.value, v.expr.span), ...(precision ? { precision } : {}) };
}

export const TASK_KINDS = ["countdown", "arithmetic", "jsonl", "parquet"] as const;

/** Settings every task takes: how its prompts reach the model. */
const PROMPT_KEYS = ["chat", "system"];

/**
 * `chat on|off` (default off) and `system "..."`, which needs chat on. Off adds nothing to
 * the task, so plans and run configs of plain-prompt pipelines stay as they were.
 */
function promptFormat(ctx: SettingsCtx, r: BlockReader): { prompt?: P.PromptFormat } {
  const chat = r.word("chat", ["off", "on"] as const, "off") === "on";
  const system = r.has("system") ? r.str("system") : null;
  if (system !== null && !chat && r.ok) ctx.diags.error("E0401", "`system` is a chat message: it needs `chat on`", r.get("system")!.keySpan, "add `chat on`, or remove `system`");
  return chat ? { prompt: { chat, system } } : {};
}

export function decodeTask(ctx: SettingsCtx, s: A.Setting): P.TaskSettings | undefined {
  const kind = kindOf(ctx, s, TASK_KINDS);
  if (!kind) return undefined;
  if (kind === "countdown") {
    const r = reader(ctx, "task countdown", s, ["numbers", "values", "target", "train_size", "test_size", "verifier", ...PROMPT_KEYS]);
    const t: P.TaskSettings = {
      kind,
      numbers: r.range("numbers", 2, [3, 4]),
      values: r.range("values", 1, [1, 20]),
      target: r.range("target", 1, [1, 60]),
      // 0 = the split's whole problem space, drawn on demand (runtime/engine/tasks/split-pool.ts).
      trainSize: r.num("train_size", { default: 0, int: true, min: 0, max: MAX_SPLIT_SIZE }),
      testSize: r.num("test_size", { default: 200, int: true, min: 0, max: MAX_SPLIT_SIZE }),
      verifier: r.word("verifier", ["countdown"] as const, "countdown"),
      ...promptFormat(ctx, r),
    };
    return r.ok ? t : undefined;
  }
  if (kind === "arithmetic") {
    const r = reader(ctx, "task arithmetic", s, ["operands", "values", "max_value", "ops", "train_size", "test_size", "verifier", ...PROMPT_KEYS]);
    const ops = r.words("ops", ["add", "sub", "mul", "div"] as const, ["add", "sub", "mul"]);
    const t: P.TaskSettings = {
      kind,
      // The runtime chains 1..10 operations: 2..11 operands.
      operands: r.range("operands", 2, [2, 3], 11),
      values: r.range("values", 1, [1, 9], 1000),
      maxValue: r.num("max_value", { default: 99, int: true, min: 1, max: 1_000_000 }),
      ops,
      // 0 = the split's whole problem space, drawn on demand (runtime/engine/tasks/split-pool.ts).
      trainSize: r.num("train_size", { default: 0, int: true, min: 0, max: MAX_SPLIT_SIZE }),
      testSize: r.num("test_size", { default: 200, int: true, min: 0, max: MAX_SPLIT_SIZE }),
      verifier: r.word("verifier", ["numeric"] as const, "numeric"),
      ...promptFormat(ctx, r),
    };
    if (r.has("ops") && ops.length === 0 && r.ok) {
      ctx.diags.error("E0401", "`ops` needs at least one operation", r.get("ops")!.value!.span);
      return undefined;
    }
    if (r.ok && t.values[0] > t.maxValue) {
      ctx.diags.error("E0401", `\`values\` starts above \`max_value\` (${t.values[0]} > ${t.maxValue}): no problem has a legal start`, (r.get("values") ?? s).span);
      return undefined;
    }
    return r.ok ? t : undefined;
  }
  const r = reader(ctx, `task ${kind}`, s, ["train", "test", "verifier", "prompt_field", "answer_field", ...PROMPT_KEYS]);
  const train = r.str("train");
  const test = r.has("test") ? r.str("test") : null;
  const t: P.TaskSettings = {
    kind,
    train: pathFrom(train, r.get("train")?.span ?? s.span),
    test: test === null ? null : pathFrom(test, r.get("test")!.span),
    verifier: r.word("verifier", ["exact", "numeric", "math"] as const),
    promptField: r.str("prompt_field", "prompt"),
    answerField: r.str("answer_field", "answer"),
    ...promptFormat(ctx, r),
  };
  return r.ok ? t : undefined;
}

export function decodeRollout(ctx: SettingsCtx, s: A.Setting): P.Rollout | undefined {
  if (!noValue(ctx, s)) return undefined;
  const r = reader(ctx, "rollout", s, ["prompts", "group", "temperature", "top_p", "top_k", "max_tokens", "mc_rollouts"]);
  const out: P.Rollout = {
    prompts: r.num("prompts", { int: true, min: 1, max: MAX_BATCH_ROWS }),
    group: r.num("group", { int: true, min: 2, max: MAX_BATCH_ROWS }),
    temperature: r.num("temperature", { above: 0 }),
    topP: r.num("top_p", { default: 1, above: 0, max: 1 }),
    topK: r.num("top_k", { default: 0, int: true, min: 0 }),
    maxTokens: r.num("max_tokens", { int: true, min: 1, max: MAX_NEW_TOKENS }),
    // Only when written, so plans and run configs of other pipelines stay as they were.
    ...(r.has("mc_rollouts") ? { mcRollouts: r.num("mc_rollouts", { int: true, min: 1, max: MAX_MC_ROLLOUTS }) } : {}),
  };
  if (r.ok && out.prompts * out.group > MAX_BATCH_ROWS) {
    const at = r.get("group") ?? r.get("prompts")!;
    ctx.diags.error("E0401", `a rollout batch of ${out.prompts} prompts × ${out.group} responses is ${out.prompts * out.group} responses; the sampler takes at most ${MAX_BATCH_ROWS} at once`, at.value?.span ?? at.span, "lower `prompts` or `group`");
    return undefined;
  }
  return r.ok ? out : undefined;
}

export function decodeOptimizer(ctx: SettingsCtx, s: A.Setting): P.Optimizer | undefined {
  const kind = kindOf(ctx, s, ["adamw", "sgd"] as const);
  if (!kind) return undefined;
  const r = reader(ctx, `optimizer ${kind}`, s, ["lr", "beta1", "beta2", "eps", "weight_decay", "clip_grad_norm", "warmup_steps", "schedule", "ppo_epochs", "minibatches"]);
  if (kind === "sgd") for (const k of ["beta1", "beta2", "eps"]) if (r.has(k)) ctx.diags.error("E0203", `\`${k}\` is an AdamW setting; sgd has no moments`, r.get(k)!.keySpan);
  const out: P.Optimizer = {
    kind,
    lr: r.num("lr", { above: 0 }),
    // PyTorch AdamW defaults; weight decay and clipping follow HF TrainingArguments (used by TRL).
    beta1: r.num("beta1", { default: 0.9, min: 0, below: 1 }),
    beta2: r.num("beta2", { default: 0.999, min: 0, below: 1 }),
    eps: r.num("eps", { default: 1e-8, above: 0 }),
    weightDecay: r.num("weight_decay", { default: 0, min: 0 }),
    clipGradNorm: r.num("clip_grad_norm", { default: 1, min: 0 }),
    warmupSteps: r.num("warmup_steps", { default: 0, int: true, min: 0 }),
    schedule: r.word("schedule", ["constant", "linear", "cosine"] as const, "constant"),
    ppoEpochs: r.num("ppo_epochs", { default: 1, int: true, min: 1 }),
    minibatches: r.num("minibatches", { default: 1, int: true, min: 1 }),
  };
  return r.ok ? out : undefined;
}

export function decodeSegment(ctx: SettingsCtx, s: A.Setting): P.Segment | undefined {
  const kind = kindOf(ctx, s, ["entropy", "newline", "fixed", "none"] as const);
  if (!kind) return undefined;
  if (kind === "entropy") {
    const r = reader(ctx, "segment entropy", s, ["top", "threshold", "markers", "min_gap", "align"]);
    let candidates: P.Segment & { kind: "entropy" } extends { candidates: infer C } ? C : never;
    if (r.has("top") && r.has("threshold")) {
      ctx.diags.error("E0402", "give either `top` or `threshold`, not both", r.get("threshold")!.keySpan);
      return undefined;
    }
    if (r.has("threshold")) candidates = { by: "threshold", value: r.num("threshold", { min: 0 }) };
    else candidates = { by: "top", fraction: r.num("top", { above: 0, max: 1 }) };
    const out: P.Segment = {
      kind,
      candidates,
      markers: r.strings("markers", []),
      minGap: r.num("min_gap", { default: 1, int: true, min: 1 }),
      align: r.word("align", ["sentence", "word", "none"] as const, "none"),
    };
    return r.ok ? out : undefined;
  }
  if (kind === "newline") {
    const r = reader(ctx, "segment newline", s, ["min_gap"]);
    const out: P.Segment = { kind, minGap: r.num("min_gap", { default: 1, int: true, min: 1 }) };
    return r.ok ? out : undefined;
  }
  if (kind === "none") {
    const r = reader(ctx, "segment none", s, []);
    return r.ok ? { kind } : undefined;
  }
  const r = reader(ctx, "segment fixed", s, ["length"]);
  const out: P.Segment = { kind, length: r.num("length", { int: true, min: 1 }) };
  return r.ok ? out : undefined;
}

export function decodeAttribution(ctx: SettingsCtx, s: A.Setting): P.Attribution | undefined {
  const measure = kindOf(ctx, s, ["loglik", "perplexity"] as const);
  if (!measure) return undefined;
  const r = reader(ctx, `attribution ${measure}`, s, ["judge"]);
  const j = r.get("judge");
  let judge: P.Attribution["judge"] = { kind: "policy" };
  if (j) {
    const v = j.value;
    if (v?.kind === "expr" && v.expr.kind === "string") judge = { kind: "model", path: pathFrom(v.expr.value, v.expr.span) };
    else {
      const w = r.wordOf(j, ["policy", "initial"] as const);
      if (!w) return undefined;
      judge = { kind: w };
    }
  }
  return r.ok ? { measure, judge } : undefined;
}

const AGGREGATES = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "token_sum_norm"] as const;

/** Settings each loss accepts (the LSP's table lists the same). */
export const LOSS_KEYS = {
  ppo_clip: ["eps_low", "eps_high", "dual_clip", "ratio", "entropy_bonus", "tis_cap", "aggregate", "norm_constant"],
  cispo: ["eps_low", "eps_high", "entropy_bonus", "tis_cap", "aggregate", "norm_constant"],
  gmpo: ["eps_low", "eps_high", "entropy_bonus", "tis_cap", "aggregate"],
  sapo: ["tau_pos", "tau_neg", "entropy_bonus", "tis_cap", "aggregate", "norm_constant"],
} as const;

export function decodeLoss(ctx: SettingsCtx, s: A.Setting): P.Loss | undefined {
  const kind = kindOf(ctx, s, ["ppo_clip", "cispo", "gmpo", "sapo"] as const);
  if (!kind) return undefined;
  const r = reader(ctx, `loss ${kind}`, s, LOSS_KEYS[kind]);
  // GMPO's objective is a mean over responses of each response's geometric-mean term
  // (paper eq. and verl's geo_mean: torch.mean over sequences): only one aggregation means that.
  const aggregate = kind === "gmpo" ? gmpoAggregate(ctx, r) : r.word("aggregate", AGGREGATES);
  let normConstant: number | null = null;
  if (aggregate === "token_sum_norm") normConstant = r.num("norm_constant", { above: 0 });
  else if (r.has("norm_constant")) {
    ctx.diags.error("E0402", "`norm_constant` applies only to `aggregate token_sum_norm`", r.get("norm_constant")!.keySpan);
    r.fail();
  }
  const out: P.Loss = {
    kind,
    epsLow: kind === "sapo" ? 0 : lossEpsLow(kind, r),
    epsHigh: kind === "sapo" ? 0 : r.num("eps_high", { min: 0 }),
    dualClip: kind === "ppo_clip" && r.has("dual_clip") ? r.num("dual_clip", { above: 1 }) : null,
    ratio: kind === "ppo_clip" ? r.word("ratio", ["token", "sequence"] as const, "token") : "token",
    entropyBonus: r.num("entropy_bonus", { default: 0 }),
    tisCap: r.has("tis_cap") ? r.num("tis_cap", { above: 0 }) : null,
    // SAPO's defaults, from verl's `sapo` policy loss (tau_pos 1.0, tau_neg 1.05).
    tau: kind === "sapo" ? { pos: r.num("tau_pos", { above: 0, default: 1 }), neg: r.num("tau_neg", { above: 0, default: 1.05 }) } : null,
    aggregate,
    normConstant,
  };
  return r.ok ? out : undefined;
}

/**
 * eps_low by loss: PPO's ratio bound 1 - eps_low must stay positive (required, in [0, 1));
 * CISPO's defaults to 1, no lower bound on the importance weight (MiniMax-M1: "we did not
 * impose a lower bound ... by setting eps_low^IS to a large value"), and may exceed 1;
 * GMPO's is a log-space bound -eps_low (required, >= 0; the paper's is 0.4).
 */
function lossEpsLow(kind: Exclude<P.LossKind, "sapo">, r: BlockReader): number {
  if (kind === "ppo_clip") return r.num("eps_low", { min: 0, below: 1 });
  if (kind === "cispo") return r.num("eps_low", { min: 0, default: 1 });
  return r.num("eps_low", { min: 0 });
}

function gmpoAggregate(ctx: SettingsCtx, r: BlockReader): P.Aggregate {
  const a = r.word("aggregate", AGGREGATES, "seq_mean_token_mean");
  if (a !== "seq_mean_token_mean" && r.has("aggregate")) {
    ctx.diags.error("E0402", `\`loss gmpo\` averages each response's geometric-mean term over the responses; \`aggregate ${a}\` would weigh them differently`, r.get("aggregate")!.value!.span, "write `aggregate seq_mean_token_mean` or leave it out");
    r.fail();
  }
  return "seq_mean_token_mean";
}

export function decodeEval(ctx: SettingsCtx, s: A.Setting, rollout: P.Rollout | undefined): P.Eval | undefined {
  if (!noValue(ctx, s)) return undefined;
  const r = reader(ctx, "eval", s, ["every", "split", "problems", "samples", "temperature", "top_p", "max_tokens", "metrics"]);
  // Each sample of each problem is a row held in memory until it is scored; bounded like a rollout batch.
  const samples = r.num("samples", { int: true, min: 1, max: MAX_BATCH_ROWS });
  const metrics = r.metrics("metrics", [{ kind: "acc", k: samples }]);
  for (const m of metrics) {
    if (Number.isFinite(samples) && m.k > samples && m.span) {
      ctx.diags.error("E0401", `${m.kind}@${m.k} needs at least ${m.k} samples per problem, but \`samples\` is ${samples}`, m.span, `raise samples to ${m.k} or use ${m.kind}@${samples}`);
      r.fail();
    }
  }
  const out: P.Eval = {
    every: r.num("every", { int: true, min: 1 }),
    split: r.word("split", ["test", "train"] as const, "test"),
    problems: r.num("problems", { default: 0, int: true, min: 0 }),
    samples,
    temperature: r.num("temperature", { default: rollout?.temperature ?? 1, above: 0 }),
    topP: r.num("top_p", { default: rollout?.topP ?? 1, above: 0, max: 1 }),
    maxTokens: r.num("max_tokens", { default: rollout?.maxTokens ?? 256, int: true, min: 1, max: MAX_NEW_TOKENS }),
    metrics: metrics.map((m) => ({ kind: m.kind, k: m.k })),
  };
  return r.ok ? out : undefined;
}
