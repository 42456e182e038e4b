// Fixtures of run directories without a GPU: metrics lines, a tiny model's files, optimizer
// moments and whole checkpoint states, each drawn from a seeded RNG.
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import type { TensorMap } from "../../runtime/engine/model/safetensors.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import type { CheckpointData, ModelFiles } from "../../runtime/loop/run/checkpoint-files.js";
import type { StepMetrics } from "../../runtime/loop/rl/types.js";
import { Rng } from "../../runtime/engine/rng.js";

/** A metrics record whose values come from `rng` (so a resumed run must restore the RNG to match). */
export function fakeMetrics(step: number, stage: string, rng: Rng): StepMetrics {
  const v = () => rng.uniform();
  return {
    step, stage, reward_mean: v(), reward_std: v(), accuracy: v(), zero_variance_groups: v(), response_length_mean: 40 * v(),
    response_length_max: 96, entropy_mean: v(), steps_per_response: 3 * v(), attribution_mean: v() - 0.5, attribution_std: v(),
    attribution_negative_fraction: v(), loss: v(), advantage_mean: 0, advantage_std: v(), advantage_min: -v(), advantage_max: v(),
    kl: v() * 1e-3, kl_loss: v() * 1e-5, clip_low_fraction: 0, clip_high_fraction: v() * 0.1, dual_clip_fraction: 0, ratio_mean: 1, ratio_min: 1 - v() * 0.1,
    ratio_max: 1 + v() * 0.1, grad_norm: v(), learning_rate: 1e-6, skipped_updates: 0, tokens_per_s: 1000 * v(),
    time_rollout_s: v(), time_verify_s: v(), time_segment_attribution_s: v(), time_update_s: v(), time_step_s: 4 * v(),
  };
}

/** A tiny model folder's contents (no GPU needed). */
export function tinyModel(seed: number): ModelFiles {
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = presetConfig("tiny", 108, 1, [2]);
  return { config, weights: initWeights(config, seed), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} };
}

/** Moments with the optimizer's names, filled from `rng` (-0 and a subnormal included: bits must survive). */
export function fakeMoments(weights: TensorMap, rng: Rng): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, t] of weights) {
    for (const suffix of ["exp_avg", "exp_avg_sq"]) {
      const data = Float32Array.from(t.data, () => rng.normal());
      data[0] = -0;
      if (data.length > 2) data[1] = 1e-45;
      out.set(`${name}.${suffix}`, { shape: [...t.shape], data });
    }
  }
  return out;
}

export function ckData(step: number, model: ModelFiles, rng: Rng, extra: Partial<CheckpointData> = {}): CheckpointData {
  return {
    step, stage: "explore", stageStartStep: 0, skippedUpdates: 1, rng: rng.state(),
    sampler: { cursor: step * 16, priorities: { p1: 0.25, p2: null } }, policy: model,
    optimizer: { t: step, tensors: fakeMoments(model.weights, new Rng(step)) }, references: {}, ...extra,
  };
}

