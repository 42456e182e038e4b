// The PyTorch reference of the GRPO step (scripts/torch_grpo_reference.py) must follow the
// plan's learning-rate schedule step for step, or its curves drift from acpo's after the
// warm-up (it once ran at the full rate from step 1). These tests pin the rate it uses and
// its refusal of schedules it does not mirror.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TORCH_PYTHON, torchEnv } from "../../bench/lib/torch.js";
import { lrAt } from "../../runtime/engine/model/lr-schedule.js";
import { ensureTorch } from "../helpers/torch.js";

const SCRIPT = "scripts/torch_grpo_reference.py";

function python(args: string[]) {
  return spawnSync(TORCH_PYTHON, args, { encoding: "utf8", env: torchEnv(), timeout: 120_000 });
}

describe("torch GRPO reference", () => {
  beforeAll(() => ensureTorch());

  it("uses acpo's rate at every step: linear warm-up, then constant", () => {
    const code = [
      "import sys, json",
      "sys.path.insert(0, 'scripts')",
      "from torch_grpo_reference import lr_at",
      "print(json.dumps([lr_at({'lr': 3e-4, 'warmup_steps': 5}, s) for s in range(1, 9)]))",
    ].join("\n");
    const r = python(["-c", code]);
    expect(r.status, r.stderr).toBe(0);
    const ours = [1, 2, 3, 4, 5, 6, 7, 8].map((s) => lrAt({ lr: 3e-4, warmupSteps: 5, decay: "constant", totalSteps: 8, minRatio: 0 }, s));
    const theirs = JSON.parse(r.stdout) as number[];
    expect(theirs.length).toBe(8);
    theirs.forEach((v, i) => expect(v).toBeCloseTo(ours[i] ?? Number.NaN, 12));
    expect(theirs[0]).toBeCloseTo(6e-5, 12); // a fifth of the rate at step 1, not the full rate
  });

  it("refuses a plan whose schedule decays, naming the plan and the schedule", () => {
    const dir = mkdtempSync(join(tmpdir(), "torch-ref-plan-"));
    const plan = {
      model: { path: "models/countdown-tiny" },
      seed: 0,
      task: { kind: "countdown", numbers: [3, 3], values: [1, 9], target: [1, 30] },
      rollout: { prompts: 2, group: 2, temperature: 1, topP: 1, topK: 0, maxTokens: 8 },
      optimizer: { kind: "adamw", lr: 3e-4, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, clipGradNorm: 1, warmupSteps: 5, schedule: "cosine", ppoEpochs: 1, minibatches: 1 },
      loss: { kind: "ppo_clip", epsLow: 0.2, epsHigh: 0.2, aggregate: "seq_mean_token_mean" },
      params: [],
    };
    writeFileSync(join(dir, "plan.json"), JSON.stringify(plan));
    const r = python([SCRIPT, "--plan", dir, "--steps", "1"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe(`${dir}: optimizer schedule cosine; this reference does a linear warm-up then a constant rate (schedule constant)`);
  });
});
