// The metrics.jsonl record of one optimizer step, from the step's trajectories, the loss
// kernels' summary and the phase timings.
import type { Summary } from "../../../compiler/plan/artifact.js";
import type { DynamicSampling } from "./prompt-sampler.js";
import { stepStarts } from "./step-batch.js";
import type { StepMetrics, Trajectory } from "./types.js";

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
/** Population standard deviation (divides by n), as spec/run.md defines the metrics. */
const stdPopulation = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};

export interface StepTimes {
  rollout: number;
  verify: number;
  segmentAttribution: number;
  update: number;
  total: number;
}

/**
 * `generated`: every response sampled this step (rollout statistics); `trajs`: those the
 * update trained on (segmentation and attribution statistics). They differ under dynamic
 * sampling, which drops groups whose rewards are all equal.
 */
export function stepMetrics(
  step: number, stage: string, generated: Trajectory[], trajs: Trajectory[], summary: Summary | null,
  o: { gradNorm: number; lr: number; skipped: number; times: StepTimes; sampling?: DynamicSampling | null },
): StepMetrics {
  const rewards = generated.map((t) => t.verdict.reward);
  const groups = new Map<number, number[]>();
  for (const t of generated) groups.set(t.group, [...(groups.get(t.group) ?? []), t.verdict.reward]);
  const flat = [...groups.values()].filter((g) => g.every((r) => r === g[0])).length;
  const lengths = generated.map((t) => t.responseIds.length);
  const entropies = generated.flatMap((t) => t.entropies);
  const C = trajs.flatMap((t) => t.C);
  const tokens = lengths.reduce((a, b) => a + b, 0); // generated tokens, the work the step did
  const s = summary;
  return {
    step, stage,
    reward_mean: mean(rewards),
    reward_std: stdPopulation(rewards),
    accuracy: mean(generated.map((t) => (t.verdict.correct ? 1 : 0))),
    zero_variance_groups: groups.size ? flat / groups.size : NaN,
    response_length_mean: mean(lengths),
    response_length_max: Math.max(0, ...lengths),
    entropy_mean: mean(entropies),
    steps_per_response: mean(trajs.map((t) => stepStarts(t).length)), // the step table's count (step-batch.ts)
    attribution_mean: mean(C),
    attribution_std: stdPopulation(C),
    attribution_negative_fraction: C.length ? C.filter((c) => c < 0).length / C.length : NaN,
    loss: s?.loss ?? NaN,
    advantage_mean: s?.adv_mean ?? NaN,
    advantage_std: s?.adv_std ?? NaN,
    advantage_min: s?.adv_min ?? NaN,
    advantage_max: s?.adv_max ?? NaN,
    kl: s?.kl ?? NaN,
    kl_loss: s?.kl_loss ?? NaN,
    clip_low_fraction: s?.clip_low ?? NaN,
    clip_high_fraction: s?.clip_high ?? NaN,
    dual_clip_fraction: s?.dual_clip ?? NaN,
    ratio_mean: s?.ratio_mean ?? NaN,
    ratio_min: s?.ratio_min ?? NaN,
    ratio_max: s?.ratio_max ?? NaN,
    grad_norm: o.gradNorm,
    learning_rate: o.lr,
    ...(o.sampling ? { dynamic_sampling_kept: o.sampling.kept, dynamic_sampling_short: o.sampling.wanted - o.sampling.kept, dynamic_sampling_empty_attempts: o.sampling.emptyAttempts } : {}),
    skipped_updates: o.skipped,
    tokens_per_s: o.times.total > 0 ? tokens / o.times.total : NaN,
    time_rollout_s: o.times.rollout,
    time_verify_s: o.times.verify,
    time_segment_attribution_s: o.times.segmentAttribution,
    time_update_s: o.times.update,
    time_step_s: o.times.total,
  };
}
