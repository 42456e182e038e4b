// Seconds per RL step, two ways: acpo's trainer on a pipeline (its own per-phase metrics),
// and the PyTorch reference of the same GRPO step (scripts/torch_grpo_reference.py) on the
// plan that pipeline compiles to. Both report the median over the steps after the first,
// which includes compiling kernels (acpo) or warming allocators (torch).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPipeline, formatAll } from "../../compiler/index.js";
import { writePlan } from "../../compiler/plan/plan.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import type { StepMetrics } from "../../runtime/loop/rl/types.js";
import { runTorchJson, type TorchThreads } from "./torch.js";

export const TORCH_GRPO_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "torch_grpo_reference.py");

/** Per-phase seconds of one step (medians over the measured steps). */
export interface StepTimes {
  rollout: number;
  verify: number;
  segmentAttribution: number;
  update: number;
  step: number;
  /** Mean response length in tokens over the measured steps. */
  responseTokens: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** A pipeline's text without its eval block (evaluations are not part of a step). */
export function withoutEval(src: string): string {
  return src.replace(/\n\s*eval \{[^}]*\}/, "\n");
}

/** Median phase times over `records`. */
export function stepTimes(records: readonly StepMetrics[]): StepTimes {
  const m = (k: keyof StepMetrics): number => median(records.map((r) => r[k] as number));
  return {
    rollout: m("time_rollout_s"), verify: m("time_verify_s"), segmentAttribution: m("time_segment_attribution_s"),
    update: m("time_update_s"), step: m("time_step_s"),
    responseTokens: records.reduce((s, r) => s + r.response_length_mean, 0) / Math.max(records.length, 1),
  };
}

/**
 * Runs `steps + 1` steps of the pipeline in `path` (source `text`, its eval removed) with
 * acpo's trainer and returns the per-step metrics of all but the first.
 */
export async function acpoSteps(gpu: Gpu, path: string, text: string, steps: number): Promise<StepMetrics[]> {
  const out = join(mkdtempSync(join(tmpdir(), "acpo-bench-rl-")), "run");
  await train({ pipelinePath: resolve(path), pipelineText: withoutEval(text), steps: steps + 1, outDir: out, quiet: true, gpu, checkpointEvery: 1000 });
  return readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics).slice(1);
}

/** Compiles a pipeline file to a plan directory (what `acpo compile FILE -o DIR` writes). */
export function compileToPlan(path: string): string {
  const r = loadPipeline(resolve(path));
  if (!r.pipeline) throw new Error(`${path} does not check:\n${formatAll(r)}`);
  const dir = join(mkdtempSync(join(tmpdir(), "acpo-bench-plan-")), "plan");
  writePlan(dir, r.pipeline);
  return dir;
}

export type TorchStep = { ok: true; times: StepTimes; threads: number; version: string } | { ok: false; why: string };

/** The PyTorch reference's GRPO step on a compiled plan: `steps + 1` steps, the first dropped. */
export function torchSteps(planDir: string, steps: number, threads: TorchThreads): TorchStep {
  // The script takes flags, not one JSON argument: pass them through runTorchJson's argv.
  const r = runTorchJson(TORCH_GRPO_SCRIPT, {}, threads, 1_800_000, ["--plan", planDir, "--steps", String(steps + 1), "--json"]);
  if (!r.ok) return r;
  const o = r.out as { threads: number; version: string; steps: StepMetrics[] };
  return { ok: true, times: stepTimes(o.steps.slice(1)), threads: o.threads, version: o.version };
}
