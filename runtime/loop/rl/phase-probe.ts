// Phase boundaries of one training step, for the step profile (bench/suites/step-profile.ts).
// The loop calls `probe.at(phase)` when `phase` ends; a profiler waits for the GPU there and
// records counters and CPU time, so each phase's GPU work is charged to it. Without a probe
// (every ordinary run) nothing waits and nothing is recorded.

/** The phases of one step, in the order the loop ends them. */
export const STEP_PHASES = [
  "between steps", // the previous step's stage switch, checkpoint and autotuning, up to this step's start
  "rollout decode", // prefill + sampling of every response (generate)
  "verification", // decoding the texts and the task's verifier (CPU)
  "segmentation", // step boundaries and step rewards (CPU)
  "attribution", // C per step from the rollout's KV cache
  "update: batch + old/ref logp", // the CPU batch, its upload, old and reference log-probs
  "update: forward", // the policy up to its final norm
  "update: loss head", // LM head statistics, the stage's loss kernels, the LM head's gradient
  "update: backward", // the rest of the policy's backward
  "update: AdamW", // gradient norm, summary readback, the optimizer step
  "metrics + samples", // metrics.jsonl and samples.jsonl
] as const;

export type StepPhase = (typeof STEP_PHASES)[number];

export interface PhaseProbe {
  /** `phase` has just ended (its GPU work recorded, maybe not yet run). */
  at(phase: StepPhase): Promise<void>;
}
