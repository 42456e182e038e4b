// Which settings each block accepts, for completion. The checker keeps these lists inside
// its decoders (compiler/checker/settings.ts, stages.ts); test/lsp/settings-table.test.ts
// compiles a block with an unknown key and compares the checker's own "settings here" list
// with this table, so the two cannot drift apart.
import { TASK_KINDS } from "../checker/settings.js";

/**
 * Keys accepted in each block, by block name: the setting's key, then its kind word when the
 * block has one (`task countdown`, `optimizer sgd`); `pipeline` is the top level, `stage` a
 * stage's body.
 */
export const BLOCK_KEYS: Readonly<Record<string, readonly string[]>> = {
  pipeline: ["model", "seed", "task", "rollout", "optimizer", "segment", "attribution", "judge", "loss", "eval"],
  model: ["precision"],
  "task countdown": ["numbers", "values", "target", "train_size", "test_size", "verifier", "chat", "system"],
  "task arithmetic": ["operands", "values", "max_value", "ops", "train_size", "test_size", "verifier", "chat", "system"],
  "task jsonl": ["train", "test", "verifier", "prompt_field", "answer_field", "chat", "system"],
  "task parquet": ["train", "test", "verifier", "prompt_field", "answer_field", "chat", "system"],
  rollout: ["prompts", "group", "temperature", "top_p", "top_k", "max_tokens", "mc_rollouts"],
  "optimizer adamw": ["lr", "beta1", "beta2", "eps", "weight_decay", "clip_grad_norm", "warmup_steps", "schedule", "ppo_epochs", "minibatches"],
  // sgd has no moments: the checker refuses beta1, beta2 and eps there (E0203).
  "optimizer sgd": ["lr", "weight_decay", "clip_grad_norm", "warmup_steps", "schedule", "ppo_epochs", "minibatches"],
  "segment entropy": ["top", "threshold", "markers", "min_gap", "align"],
  "segment newline": ["min_gap"],
  "segment fixed": ["length"],
  "segment none": [],
  "attribution loglik": ["judge"],
  "attribution perplexity": ["judge"],
  judge: ["model", "question", "verdict", "against"],
  "loss ppo_clip": ["eps_low", "eps_high", "dual_clip", "ratio", "entropy_bonus", "tis_cap", "aggregate", "norm_constant"],
  "loss cispo": ["eps_low", "eps_high", "entropy_bonus", "tis_cap", "aggregate", "norm_constant"],
  "loss gmpo": ["eps_low", "eps_high", "entropy_bonus", "tis_cap", "aggregate"],
  "loss sapo": ["tau_pos", "tau_neg", "entropy_bonus", "tis_cap", "aggregate", "norm_constant"],
  eval: ["every", "split", "problems", "samples", "temperature", "top_p", "max_tokens", "metrics"],
  stage: ["reference", "kl", "token_weight", "token_mask", "sample"],
  "sample all": [],
  "sample dynamic": ["max_rounds"],
  "sample curriculum": ["priority", "unseen"],
};

/** The kind words of settings that take one before their block (`segment entropy { ... }`). */
export const SETTING_KINDS: Readonly<Record<string, readonly string[]>> = {
  task: TASK_KINDS,
  optimizer: ["adamw", "sgd"],
  segment: ["entropy", "newline", "fixed", "none"],
  attribution: ["loglik", "perplexity"],
  loss: ["ppo_clip", "cispo", "gmpo", "sapo"],
  sample: ["all", "dynamic", "curriculum"],
};

/** Settings that take a block without a kind word. */
const PLAIN_BLOCKS = new Set(["rollout", "eval", "judge"]);

/** Settings whose block follows a value that is not a kind word: `model "DIR" { precision f16 }`. */
const VALUE_BLOCKS = new Set(["model"]);

/** The table entry of a block opened by `key [kind] {`, or undefined when the block is unknown. */
export function blockName(key: string, kind: string | undefined): string | undefined {
  if (VALUE_BLOCKS.has(key)) return key;
  if (PLAIN_BLOCKS.has(key)) return kind === undefined ? key : undefined;
  if (kind === undefined) return undefined;
  const name = `${key} ${kind}`;
  return BLOCK_KEYS[name] ? name : undefined;
}

/** Whether `key` opens a block (with or without a kind word) somewhere. */
export function isBlockKey(key: string): boolean {
  return PLAIN_BLOCKS.has(key) || VALUE_BLOCKS.has(key) || SETTING_KINDS[key] !== undefined;
}

/** Statement keywords allowed at the top level besides settings. */
export const TOP_STATEMENTS = ["param", "let", "fn", "stage", "advantage"] as const;

/** Metric kinds `eval { metrics [...] }` accepts, as `kind@k`. */
export const METRIC_KINDS = ["acc", "pass"] as const;
