// The resolved pipeline: what `loadPipeline` returns after `extends` and `--set` are
// applied and every check has passed. Plain data (JSON-serialisable apart from nothing:
// expressions are AST nodes), every default filled in, so the back end and the training
// loop read exactly what ran, and `printPipeline` can show it back as canonical text.
import type { Expr } from "./ast.js";
import type { Level } from "./levels.js";
import type { Span } from "./source.js";

export interface Pipeline {
  name: string;
  /** Absolute path of the file that declared this pipeline. */
  file: string;
  /** Absolute paths of the files it extends, nearest parent first. */
  extendsChain: string[];
  /** Seed of the run's single random generator. */
  seed: number;
  /**
   * HF-style model folder (config.json, model.safetensors, tokenizer.json), absolute, and how
   * its linear weights are stored on the GPU (`model "DIR" { precision f16 }`; absent: f32,
   * so plans of pipelines that do not write it stay as they were).
   */
  model: { path: string; precision?: ModelPrecision };
  task: TaskSettings;
  rollout: Rollout;
  optimizer: Optimizer;
  /** Named constants, after `--set`; expressions refer to them by name. */
  params: Param[];
  /** `let` bindings in dependency order (each refers only to earlier ones). */
  lets: LetBinding[];
  /** `fn` definitions as written; each call site holds its own checked instance of the body. */
  fns: FnDef[];
  segment: Segment | null;
  attribution: Attribution | null;
  /** A generative process reward model scoring each step (`judge_score`); only when written, so other pipelines' records stay as they were. */
  judge?: Judge;
  /** The final advantage, at most token level; the loss multiplies it into each token. */
  advantage: Expr;
  /** In execution order: stages[0] runs first, each `next` names the following one (null: end). */
  stages: Stage[];
  loss: Loss;
  evals: Eval[];
}

/** f32 everywhere, or f16 copies of the linear weights (f32 masters and accumulation): runtime/engine/model/weights.ts. */
export type ModelPrecision = "f32" | "f16";

/** The `task` block: which problems to train on (the runtime builds a `Task` of runtime/engine/tasks from it). */
export type TaskSettings = (
  | {
      kind: "countdown";
      /** How many source numbers per problem, inclusive range. */
      numbers: [number, number];
      /** Range of each source number. */
      values: [number, number];
      /** Range of the target. */
      target: [number, number];
      /** Problems in the train / test split; 0 = the whole space, drawn on demand. */
      trainSize: number;
      testSize: number;
      /** Accepts an arithmetic expression that uses each given number at most once and equals the target. */
      verifier: "countdown";
    }
  | {
      kind: "arithmetic";
      /** How many operands per problem. */
      operands: [number, number];
      /** Range of the start value and of every operand. */
      values: [number, number];
      /** Every intermediate value lies in [0, maxValue]. */
      maxValue: number;
      /** Operations, from add, sub, mul, div (applied left to right). */
      ops: string[];
      /** Problems in the train / test split; 0 = the whole space, drawn on demand. */
      trainSize: number;
      testSize: number;
      /** Accepts a final number equal to the exact value. */
      verifier: "numeric";
    }
  | {
      kind: "jsonl" | "parquet";
      /** JSON-lines or Parquet files with a prompt and an answer field per record, absolute paths. */
      train: string;
      test: string | null;
      verifier: "exact" | "numeric" | "math";
      /** Field (column) names of the prompt and the reference answer. */
      promptField: string;
      answerField: string;
    }
) & {
  /** How prompts reach the model (absent in plans written before it: plain). */
  prompt?: PromptFormat;
};

/** Plain text after the BOS token, or the model's chat template with an optional system message. */
export interface PromptFormat {
  chat: boolean;
  system: string | null;
}

export interface Rollout {
  /** Prompts per optimizer step. */
  prompts: number;
  /** Responses per prompt (G). */
  group: number;
  temperature: number;
  topP: number;
  /** 0 means no top-k truncation. */
  topK: number;
  maxTokens: number;
  /**
   * Monte-Carlo value rollouts (VinePPO): K continuations sampled from each step's prefix
   * (prompt + response before the step) give `mc_value` and `mc_next`. Absent: none.
   */
  mcRollouts?: number;
}

export interface Optimizer {
  kind: "adamw" | "sgd";
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables clipping. */
  clipGradNorm: number;
  warmupSteps: number;
  schedule: "constant" | "linear" | "cosine";
  /** Passes over each rollout batch (PPO epochs). */
  ppoEpochs: number;
  /** Minibatches per pass. */
  minibatches: number;
}

export interface Param {
  name: string;
  value: number;
  /** Inclusive bounds; -Infinity / Infinity when the declaration gives none. */
  min: number;
  max: number;
  /** Where the value came from: the declaration or a `--set` argument. */
  source: "file" | "set";
  span: Span;
}

export interface LetBinding {
  name: string;
  expr: Expr;
  level: Level;
  span: Span;
}

export interface FnDef {
  name: string;
  params: string[];
  body: Expr;
  span: Span;
}

export type Segment =
  | {
      kind: "entropy";
      /** Candidate boundaries: the top `fraction` of tokens by entropy (per response), or H >= `threshold`. */
      candidates: { by: "top"; fraction: number } | { by: "threshold"; value: number };
      /** A candidate is kept only if the step it starts begins with one of these (case-insensitive); [] keeps all. */
      markers: string[];
      /** Minimum distance in tokens between kept boundaries. */
      minGap: number;
      /** "sentence": move each boundary to the start of its sentence; "word": to the start of its word; "none": keep it. */
      align: "sentence" | "word" | "none";
    }
  | { kind: "newline"; minGap: number }
  | { kind: "fixed"; length: number }
  /** One step: the whole reasoning (the "no segmentation" ablation); the answer stays its own step. */
  | { kind: "none" };

export interface Attribution {
  /**
   * loglik: C_i = log P(Y | q, S_1..S_i) - log P(Y | q, S_1..S_{i-1});
   * perplexity: C_i = PPL(Y | q, S_<i) - PPL(Y | q, S_<=i), PPL = exp(-mean token log P).
   */
  measure: "loglik" | "perplexity";
  /** Who scores: the current policy (the paper), the initial policy frozen, or another model (absolute path). */
  judge: { kind: "policy" } | { kind: "initial" } | { kind: "model"; path: string };
}

/**
 * `judge { model "DIR"  question "..."  verdict " correct" }`: a frozen judge model's
 * judge_score per step = log p_judge(verdict | prompt, response up to the step's end, question)
 * (runtime/loop/rl/judge.ts). With `against " wrong"`, the log of the verdict's probability
 * normalised against the alternative's: log p(verdict) - log(p(verdict) + p(against)) (GenRM).
 * The judge reads the policy's token ids, so it must share its tokenizer.
 */
export interface Judge {
  /** The judge's model folder, absolute. */
  model: string;
  /** Text fed after the prefix and before the verdict, not scored (may be empty). */
  question: string;
  /** The verdict whose log-probability is the score (not empty). */
  verdict: string;
  /** The verdict's alternative, when the score is normalised against it (not empty, not the verdict); only when written. */
  against?: string;
}

export interface Stage {
  name: string;
  /** Boolean, at most batch level; evaluated after each optimizer step. */
  until: Expr;
  next: string | null;
  /** Policy that ref_logp and k1/k2/k3 compare against. */
  reference: { kind: "none" } | { kind: "initial" } | { kind: "stage"; name: string };
  /** Token-level penalty added to each token's loss; null means no KL term. */
  kl: Expr | null;
  /** Estimators the kl term uses (informational; the expression is authoritative). */
  klEstimators: ("k1" | "k2" | "k3")[];
  /** Multiplies each token's surrogate; aggregation denominators are unchanged. */
  tokenWeight: Expr;
  /** Tokens where this is false leave the loss entirely, denominators included. */
  tokenMask: Expr;
  sampling: Sampling;
}

export type Sampling =
  | { kind: "all" }
  /** Drop groups whose rewards are all equal; sample more until the batch is full or maxRounds generations were made. */
  | { kind: "dynamic"; maxRounds: number }
  /** Sample prompts with probability proportional to a group-level priority of their last seen group. */
  | { kind: "curriculum"; priority: Expr; unseen: number };

export type Aggregate = "token_mean" | "seq_mean_token_mean" | "seq_mean_token_sum" | "token_sum_norm";

/**
 * The policy loss (spec/algorithms.md): ppo_clip (PPO / GRPO / DAPO / GSPO), cispo (MiniMax-M1:
 * the clipped importance weight, stop-gradient, times A times logp) or gmpo (geometric mean
 * of token ratios per response, clipped in log space) or sapo (a soft sigmoid gate instead of the clip).
 */
export type LossKind = "ppo_clip" | "cispo" | "gmpo" | "sapo";

export interface Loss {
  kind: LossKind;
  /** ppo_clip, cispo: the ratio's bounds 1 - eps_low, 1 + eps_high; gmpo: the log ratio's, -eps_low, eps_high; sapo: unused (0). */
  epsLow: number;
  epsHigh: number;
  /** Dual-clip constant c (> 1) bounding the loss for negative advantages; null: off (always off outside ppo_clip). */
  dualClip: number | null;
  /** token: per-token ratio (PPO/GRPO); sequence: length-normalised sequence ratio (GSPO); token outside ppo_clip. */
  ratio: "token" | "sequence";
  entropyBonus: number;
  /**
   * Truncated importance sampling between the sampler and the trainer: each token's policy
   * term is weighted by sg(min(exp(old_logp - rollout_logp), tisCap)); null: off.
   */
  tisCap: number | null;
  /** sapo's gate temperatures for tokens with A > 0 and A <= 0; null for the other losses. */
  tau: { pos: number; neg: number } | null;
  aggregate: Aggregate;
  /** Divisor for token_sum_norm; null for the other rules. */
  normConstant: number | null;
}

export interface Eval {
  /** Evaluate every `every` optimizer steps (and after the last step). */
  every: number;
  split: "train" | "test";
  /** Problems to evaluate; 0 means the whole split. */
  problems: number;
  samples: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  metrics: { kind: "acc" | "pass"; k: number }[];
}
