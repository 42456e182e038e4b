// The data the RL loop passes between its parts: trajectories (one sampled response each)
// and the per-step metrics record written to metrics.jsonl. Field names follow what RL
// practitioners read in TRL / verl logs; spec/run.md documents every field.
import type { Problem, Verdict } from "../../engine/tasks/types.js";
import type { Segmentation } from "./segment.js";

/** One sampled response to a prompt, and everything the loop learns about it. */
export interface Trajectory {
  problem: Problem;
  /** Prompt group within the optimizer step: the G responses to one prompt share it. */
  group: number;
  /** Prompt as the policy saw it (BOS + text tokens). */
  promptIds: number[];
  /** Sampled response tokens, up to and including the stop token. */
  responseIds: number[];
  /** log p of each response token under the sampling policy (rollout time). */
  oldLogp: number[];
  /** Entropy of the sampling distribution at each response token. */
  entropies: number[];
  text: string;
  verdict: Verdict;
  /** Step boundaries over the response tokens; null when the pipeline has no segmentation. */
  segmentation: Segmentation | null;
  /** Attribution C per reasoning step (segmentation.reasoningSteps of them; the answer step has none); [] when attribution is off. */
  C: number[];
  /**
   * The task's step checker's reward per step (stepStarts(t): one per step, `step_reward` in
   * the language; runtime/engine/tasks/countdown-steps.ts); absent when the task has no step checker.
   */
  stepRewards?: number[];
  /**
   * Monte-Carlo value of each step's start (stepStarts(t), one per step): the mean reward of
   * `rollout { mc_rollouts K }` continuations of the prompt + response before the step
   * (runtime/loop/rl/mc-values.ts); absent when the pipeline samples none.
   */
  mcValues?: number[];
  /**
   * A judge model's log-probability of its verdict after each step (stepStarts(t), one per
   * step; runtime/loop/rl/judge.ts); absent when the pipeline has no `judge` block.
   */
  judgeScores?: number[];
}

/** One line of metrics.jsonl: everything about one optimizer step. NaN is written as null. */
export interface StepMetrics {
  step: number;
  stage: string;
  /** Rollout statistics. */
  reward_mean: number;
  reward_std: number;
  accuracy: number;
  /** Fraction of prompt groups whose G rewards are all equal (no learning signal under GRPO). */
  zero_variance_groups: number;
  response_length_mean: number;
  response_length_max: number;
  /** Mean entropy of the sampling distribution over response tokens. */
  entropy_mean: number;
  /** Segmentation and attribution. */
  steps_per_response: number;
  attribution_mean: number;
  attribution_std: number;
  attribution_negative_fraction: number;
  /** Loss head summary (compiled kernels). */
  loss: number;
  advantage_mean: number;
  advantage_std: number;
  advantage_min: number;
  advantage_max: number;
  /** Mean raw KL estimator (k1/k2/k3 vs the reference) over response tokens: TRL's `kl`; null without a reference. */
  kl: number;
  /** The KL term's part of `loss` (coefficient included, aggregated as the loss); 0 without a KL term. */
  kl_loss: number;
  clip_low_fraction: number;
  clip_high_fraction: number;
  dual_clip_fraction: number;
  ratio_mean: number;
  ratio_min: number;
  ratio_max: number;
  grad_norm: number;
  learning_rate: number;
  /**
   * Dynamic sampling only (absent otherwise): prompt groups kept for the update, and how
   * many the batch still lacked when max_rounds ran out (0 when it was filled).
   */
  dynamic_sampling_kept?: number;
  dynamic_sampling_short?: number;
  /** Dynamic sampling only: whole sampling attempts before this step that kept no group (not counted as steps). */
  dynamic_sampling_empty_attempts?: number;
  /** Updates skipped because the loss or gradients were not finite (cumulative). */
  skipped_updates: number;
  /** Response tokens processed per second over the whole step. */
  tokens_per_s: number;
  /** Wall-clock seconds of each phase of the step. */
  time_rollout_s: number;
  time_verify_s: number;
  time_segment_attribution_s: number;
  time_update_s: number;
  time_step_s: number;
}

/** One line of eval.jsonl. */
export interface EvalRecord {
  step: number;
  stage: string;
  split: "train" | "test";
  problems: number;
  samples: number;
  temperature: number;
  /** e.g. { "acc@8": 0.41, "pass@8": 0.77, "greedy": 0.45 } */
  metrics: Record<string, number>;
  mean_response_tokens: number;
}
