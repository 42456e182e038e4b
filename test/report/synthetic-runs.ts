// Synthetic run directories for report tests and screenshots: what a training run leaves
// behind (metrics.jsonl, eval.jsonl, samples.jsonl, config.resolved.json) with plausible
// values: rewards that climb, a stage switch, evals every k steps, segmented samples with
// attribution scores, tokenised by a real char-level tokenizer.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadPipeline } from "../../compiler/index.js";
import { charTokenizerFiles, TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { resolvedConfig } from "../../runtime/loop/run/run-dir-config.js";
import { jsonLine } from "../../runtime/loop/run/run-dir-jsonl.js";
import type { EvalRecord, StepMetrics } from "../../runtime/loop/rl/types.js";
import { TRACE_MARKERS } from "../../runtime/engine/tasks/answer.js";
import { rng } from "../helpers/numeric.js";

export interface SyntheticRun {
  /** Example pipeline file under examples/ (its resolved config is written). */
  example: string;
  seed: number;
  steps: number;
  /** Step at which the second stage begins (must match the example's stages); null: one stage. */
  switchAt: number | null;
  evalEvery: number;
  /** How much faster reward climbs than the baseline (1 = baseline). */
  gain: number;
  /** Whether the samples carry attribution C (and weights). */
  attribution: boolean;
  /** Model folder written into the config; null points at a folder that does not exist. */
  modelDir: string | null;
}

const WORDS = [...TRACE_MARKERS, "<answer>", "</answer>"];

/** A model folder with only the tokenizer files (enough for the report to render pieces). */
export function writeTokenizerFolder(dir: string): TextTokenizer {
  mkdirSync(dir, { recursive: true });
  const files = charTokenizerFiles(WORDS);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(files.tokenizer));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(files.tokenizerConfig));
  return new TextTokenizer(files.tokenizer, files.tokenizerConfig);
}

const stageNames = (example: string): [string, string] => (example.startsWith("grpo") ? ["train", "train"] : ["explore", "converge"]);

function fakeTrace(r: () => number): { text: string; correct: boolean; answer: string; reason: string } {
  const a = 2 + Math.floor(r() * 18);
  const b = 2 + Math.floor(r() * 9);
  const c = 1 + Math.floor(r() * 20);
  const correct = r() < 0.5;
  const target = a * b - c;
  const ans = correct ? `${a}*${b}-${c}` : `${a}+${b}-${c}`;
  const reason = correct ? "equals the target" : `evaluates to ${a + b - c}, target ${target}`;
  return { text: `First, ${a}*${b}=${a * b}. Then, ${a * b}-${c}=${target}. So, <answer>${ans}</answer>`, correct, answer: ans, reason };
}

/** Write one run directory under `root`; returns its path. */
export function writeSyntheticRun(root: string, tok: TextTokenizer, spec: SyntheticRun, index = 0): string {
  const file = resolve("examples", spec.example);
  const loaded = loadPipeline(file);
  if (!loaded.pipeline) throw new Error(`${file}: does not check`);
  const pipeline = { ...loaded.pipeline, seed: spec.seed, model: { path: spec.modelDir ?? join(root, "no-such-model") } };
  const dir = join(root, `${pipeline.name}-s${spec.seed}-20250101-12000${index}`);
  mkdirSync(dir, { recursive: true });
  const config = resolvedConfig({ pipeline, seed: spec.seed, adapter: "synthetic (no device)", steps: spec.steps }, new Date(Date.UTC(2025, 0, 1, 12)));
  writeFileSync(join(dir, "config.resolved.json"), JSON.stringify(config, null, 2));

  const r = rng(1000 * spec.seed + index + 1);
  const noise = (s: number) => (r() - 0.5) * s;
  const [s1, s2] = stageNames(spec.example);
  const stageAt = (step: number) => (spec.switchAt !== null && step >= spec.switchAt ? s2 : s1);
  const metrics: StepMetrics[] = [];
  const evals: EvalRecord[] = [];
  const samples: string[] = [];
  const progress = (step: number) => 1 - Math.exp((-spec.gain * step) / spec.steps);
  for (let step = 1; step <= spec.steps; step++) {
    const p = progress(step);
    const acc = Math.min(1, Math.max(0, 0.22 + 0.35 * p + noise(0.12)));
    const second = stageAt(step) === s2;
    let kl = 0;
    metrics.push({
      step,
      stage: stageAt(step),
      reward_mean: acc,
      reward_std: Math.sqrt(acc * (1 - acc)),
      accuracy: acc,
      zero_variance_groups: Math.max(0, 0.5 - 0.3 * p + noise(0.1)),
      response_length_mean: 48 - 8 * p + noise(3),
      response_length_max: 96,
      entropy_mean: 0.9 - 0.35 * p + noise(0.04),
      steps_per_response: spec.attribution ? 3.2 + noise(0.4) : 1,
      attribution_mean: spec.attribution ? 0.08 + 0.05 * p + noise(0.03) : NaN,
      attribution_std: spec.attribution ? 0.3 + noise(0.05) : NaN,
      attribution_negative_fraction: spec.attribution ? 0.35 - 0.1 * p + noise(0.05) : NaN,
      loss: noise(0.02),
      advantage_mean: noise(0.01),
      advantage_std: 0.8 + noise(0.1),
      advantage_min: -2 + noise(0.2),
      advantage_max: 2 + noise(0.2),
      kl: (kl = second || spec.example.startsWith("grpo") ? 0.002 * (step - (spec.switchAt ?? 0)) ** 0.7 + Math.abs(noise(0.002)) : 0),
      kl_loss: (spec.example.startsWith("grpo") ? 0.04 : 0.01) * kl,
      clip_low_fraction: Math.abs(0.01 + noise(0.01)),
      clip_high_fraction: Math.abs(0.015 + noise(0.01)),
      dual_clip_fraction: 0,
      ratio_mean: 1 + noise(0.004),
      ratio_min: 0.8 + noise(0.02),
      ratio_max: 1.25 + noise(0.02),
      grad_norm: 0.6 + 0.4 * r(),
      learning_rate: 1e-6,
      skipped_updates: 0,
      tokens_per_s: 900 + noise(80),
      time_rollout_s: 1.6 + noise(0.2),
      time_verify_s: 0.01,
      time_segment_attribution_s: spec.attribution ? 0.18 + noise(0.03) : 0.01,
      time_update_s: 0.9 + noise(0.1),
      time_step_s: 2.7 + noise(0.3),
    });
    if (step % spec.evalEvery === 0 || step === spec.steps) {
      const e = Math.min(1, 0.25 + 0.3 * progress(step) + noise(0.04));
      evals.push({ step, stage: stageAt(step), split: "test", problems: 64, samples: 8, temperature: 1, metrics: { "acc@8": e, "pass@8": Math.min(1, e + 0.3 + noise(0.04)), greedy: e + noise(0.05) }, mean_response_tokens: 45 });
    }
    if (step % 5 === 0)
      for (let g = 0; g < 2; g++)
        for (let j = 0; j < 2; j++) {
          const { text, correct, answer, reason } = fakeTrace(r);
          const tokens = tok.encode(text);
          const starts = [0, text.indexOf("Then"), text.indexOf("So")].map((c) => tok.encode(text.slice(0, c)).length);
          // Entropy spikes where a step begins (the segmentation's candidates), decays inside.
          const entropy = tokens.map((_, t) => (starts.includes(t) ? 2.2 : 0.15 + 1.2 * r() ** 3));
          const K = starts.length;
          const line: Record<string, unknown> = {
            group: g,
            reward: correct ? 1 : 0,
            correct,
            tokens,
            old_logp: entropy.map((h) => -h * r()),
            logp: entropy.map((h) => -h * r()),
            entropy,
            old_entropy: entropy,
            step_starts: starts,
            step_entropy: starts.map((s, k) => {
              const e = k + 1 < K ? starts[k + 1]! : tokens.length;
              return entropy.slice(s, e).reduce((a, b) => a + b, 0) / (e - s);
            }),
            step,
            stage: stageAt(step),
            prompt: "Using the numbers [..], create an equation that equals the target.",
            text,
            answer,
            reason,
          };
          if (spec.attribution) {
            line.C = starts.map((_, k) => (k === K - 1 ? 0 : noise(0.8) + (correct ? 0.15 : -0.1)));
            line.w = starts.map(() => 0.8 + 0.5 * r());
          }
          samples.push(jsonLine(line));
        }
  }
  writeFileSync(join(dir, "metrics.jsonl"), metrics.map(jsonLine).join(""));
  writeFileSync(join(dir, "eval.jsonl"), evals.map(jsonLine).join(""));
  writeFileSync(join(dir, "samples.jsonl"), samples.join(""));
  return dir;
}

/** A realistic comparison: GRPO, ACPO, ACPO without KL, 60 steps, ACPO switching stage at 30. */
export function writeSyntheticComparison(root: string): string[] {
  const modelDir = join(root, "model");
  const tok = writeTokenizerFolder(modelDir);
  const base = { seed: 1, steps: 60, evalEvery: 10, modelDir };
  return [
    writeSyntheticRun(root, tok, { ...base, example: "grpo.acpo", switchAt: null, gain: 1.5, attribution: false }, 0),
    writeSyntheticRun(root, tok, { ...base, example: "acpo.acpo", switchAt: 30, gain: 2.5, attribution: true }, 1),
    writeSyntheticRun(root, tok, { ...base, example: "acpo_no_kl.acpo", switchAt: 30, gain: 2.0, attribution: true }, 2),
  ];
}
