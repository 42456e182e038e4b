// Process rewards from a verifier (issue 15): the step-level `step_reward` built-in, from
// the runtime's trajectories, samples.jsonl lines and recorded batches, and
// examples/prm_steps.acpo's advantage, loss and gradient on a hand-made batch against the
// formula, in the interpreter and the kernels; the checker's rules for it.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { BatchError, readBatchFile } from "../../../compiler/plan/batch-file.js";
import { replay } from "../../../compiler/plan/replay.js";
import { analyze } from "../../../compiler/lsp/analysis.js";
import { hoverText } from "../../../compiler/lsp/hover.js";
import { locate } from "../../../compiler/lsp/locate.js";
import { ExportRefused, planExport } from "../../../export/verl/index.js";
import { sampleLine } from "../../../runtime/loop/run/run-dir-samples.js";
import type { Trajectory } from "../../../runtime/loop/rl/types.js";
import { trajectoryBatch } from "../../../runtime/loop/rl/until.js";
import { expectClose } from "../../helpers/numeric.js";
import { check, withBody } from "../helpers.js";
import { onGpu, responseValues } from "./hand-batch.js";

/** One group; response i has steps of lengths steps[i] (response tokens from slot 0) with rewards stepRewards[i]. */
function stepBatch(rewards: number[], steps: number[][], stepRewards: number[][], logp: number[], old: number[]): Batch {
  const B = rewards.length;
  const lens = steps.map((s) => s.reduce((a, x) => a + x, 0));
  const T = Math.max(...lens);
  const S = Math.max(...steps.map((s) => s.length));
  const N = B * T;
  const stepIdx = new Int32Array(N).fill(-1);
  const stepLength = new Float64Array(B * S), stepReward = new Float64Array(B * S);
  const lp = new Float64Array(N), ol = new Float64Array(N);
  let j = 0;
  steps.forEach((ss, i) => {
    let t = 0;
    ss.forEach((len, k) => {
      stepLength[i * S + k] = len;
      stepReward[i * S + k] = stepRewards[i]![k]!;
      for (let u = 0; u < len; u++, t++, j++) {
        stepIdx[i * T + t] = k;
        lp[i * T + t] = logp[j]!;
        ol[i * T + t] = old[j]!;
      }
    });
  });
  return {
    B, T, S, nGroups: 1, group: new Int32Array(B), reward: Float64Array.from(rewards), correct: Float64Array.from(rewards, (r) => +(r > 0)),
    format: new Float64Array(B).fill(1), length: Float64Array.from(lens), stepIdx, ids: new Int32Array(N), oldLogp: ol, refLogp: null,
    C: new Float64Array(B * S), stepLength, stepEntropy: new Float64Array(B * S), stepReward,
    V: 0, temperature: 1, logits: null, logp: lp, H: new Float64Array(N), steps: 0, totalSteps: 0, seed: 0,
  };
}

describe("examples/prm_steps.acpo", () => {
  // Response 0 correct, 3 steps all valid; response 1 wrong, its first step refuted; response 2 wrong, no equation (1 step).
  const rewards = [1, 0, 0];
  const steps = [[2, 2, 1], [2, 3], [2]];
  const stepRewards = [[1, 1, 1], [0, 1], [1]];
  const lambda = 0.5, eps = 1e-6;
  const mean = 1 / 3, std = Math.sqrt((2 / 3) ** 2 / 3 + 2 * (1 / 3) ** 2 / 3);
  const A = rewards.map((r) => (r - mean) / (std + eps));
  // Per token: A_i + lambda * (step_reward - 1), Lightman / Math-Shepherd style process term.
  const want = steps.flatMap((ss, i) => ss.flatMap((len, k) => new Array<number>(len).fill(A[i]! + lambda * (stepRewards[i]![k]! - 1))));
  const N = want.length;

  it("advantage = outcome advantage + lambda (step_reward - 1); on-policy gradient -A_t / N, in the interpreter and the kernels", async () => {
    const p = loadPipeline("examples/prm_steps.acpo").pipeline!;
    const logp = new Array<number>(N).fill(-1);
    const b = stepBatch(rewards, steps, stepRewards, logp, logp);
    const r = await onGpu(p, b, "prm_steps on-policy");
    expectClose(responseValues(b, r.tokens.advantage), want, 1e-12, 1e-12, "advantage");
    expectClose(responseValues(b, r.tokens.dlogp), want.map((a) => -a / N), 1e-12, 1e-12, "d loss / d logp");
    expect(r.summary.loss).toBeCloseTo(-want.reduce((s, a) => s + a, 0) / N, 12);
  });

  it("off-policy: the loss is PPO-clip's token mean with eps_low 0.2, eps_high 0.28", async () => {
    const p = loadPipeline("examples/prm_steps.acpo").pipeline!;
    const old = new Array<number>(N).fill(-1);
    const logp = old.map((o, t) => o + [0.5, -0.4, 0.1, -0.05, 0.3][t % 5]!);
    const b = stepBatch(rewards, steps, stepRewards, logp, old);
    const r = await onGpu(p, b, "prm_steps off-policy");
    const terms = want.map((a, t) => {
      const rho = Math.exp(logp[t]! - old[t]!);
      return -Math.min(rho * a, Math.min(Math.max(rho, 0.8), 1.28) * a);
    });
    expect(r.summary.loss).toBeCloseTo(terms.reduce((s, x) => s + x, 0) / N, 12);
    // The gradient flows only where the clip is inactive: d/dlogp of -rho a / N.
    const grad = want.map((a, t) => {
      const rho = Math.exp(logp[t]! - old[t]!);
      const clipped = Math.min(Math.max(rho, 0.8), 1.28) * a < rho * a;
      return clipped ? 0 : (-rho * a) / N;
    });
    expectClose(responseValues(b, r.tokens.dlogp), grad, 1e-12, 1e-12, "d loss / d logp");
  });
});

describe("step_reward reaches the batch", () => {
  const traj = (starts: number[] | null, L: number, stepRewards?: number[]): Trajectory => ({
    problem: { id: "q", split: "train", prompt: "p" }, group: 0, promptIds: [1], responseIds: new Array(L).fill(5), oldLogp: new Array(L).fill(-1),
    entropies: new Array(L).fill(1), text: "", verdict: { reward: 0, correct: false, answer: null, reason: "" },
    segmentation: starts ? { boundaries: [...starts, L], answer: null, reasoningSteps: starts.length } : null, C: [], ...(stepRewards ? { stepRewards } : {}),
  });

  it("from the trajectories' step checker, in the interpreter's batch and in samples.jsonl", () => {
    const { batch } = trajectoryBatch([traj([0, 2], 4, [0, 1]), traj([0, 1, 3], 5, [1, 1, 0])], { steps: 1, totalSteps: 1 });
    expect(batch.S).toBe(3);
    expect(Array.from(batch.stepReward!)).toEqual([0, 1, 0, 1, 1, 0]);
    const line = sampleLine(traj([0, 2], 4, [0, 1]), { logp: [-1, -1, -1, -1], entropy: [1, 1, 1, 1] }, { step: 1, stage: "train" });
    expect(line.step_reward).toEqual([0, 1]);
    expect(sampleLine(traj([0, 2], 4), { logp: [-1, -1, -1, -1], entropy: [1, 1, 1, 1] }, { step: 1, stage: "train" }).step_reward).toBeUndefined();
    expect(() => trajectoryBatch([traj([0, 2], 4, [1])], { steps: 1, totalSteps: 1 })).toThrow("samples: trajectory has 1 step rewards but 2 steps");
  });

  it("from a recorded batch: `step_reward`, one per step; replay refuses a batch without it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-step-reward-"));
    const line = (extra: object) => JSON.stringify({ group: 0, reward: 0, tokens: [1, 2, 3], old_logp: [-1, -1, -1], logp: [-1, -1, -1], entropy: [1, 1, 1], step_starts: [0, 2], ...extra });
    const f = join(dir, "samples.jsonl");
    writeFileSync(f, [line({ step_reward: [1, 0] }), line({ step_reward: [0, 1] })].join("\n") + "\n");
    const file = readBatchFile(f);
    expect(Array.from(file.batch.stepReward!)).toEqual([1, 0, 0, 1]);
    const p = loadPipeline("examples/prm_steps.acpo").pipeline!;
    const r = await replay(p, undefined, file, f);
    expect(r).toBeDefined();
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, line({ step_reward: [1] }) + "\n");
    expect(() => readBatchFile(bad)).toThrow(`${bad}:1.step_reward: expected 2 numbers (one per step), found 1`);
    const none = join(dir, "none.jsonl");
    writeFileSync(none, [line({ step_reward: [1, 1] }), line({})].join("\n") + "\n");
    const nf = readBatchFile(none);
    expect(nf.has.stepReward).toBe(false);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(BatchError);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(`${none}: the pipeline uses the step checker's rewards (step_reward); every trajectory needs 'step_reward' (one per step)`);
  });
});

describe("checker: step_reward", () => {
  it.each([
    ["without segment", "", "countdown { numbers 3..4 }", "add e.g. segment newline { min_gap 1 }"],
    ["with a task that has no step checker", "  segment newline { min_gap 1 }\n", "arithmetic { steps 2..3 }", "use task countdown, or score steps otherwise (e.g. C or step_entropy)"],
  ])("%s: E0404 at the name, with a hint", (_what, segment, task, hint) => {
    const text = withBody(`${segment}  let s = step_reward`).replace(/task countdown \{[^}]*\}/, `task ${task}`);
    const r = check(text);
    const d = r.diagnostics.find((x) => x.code === "E0404")!;
    expect(d.message).toBe("`step_reward` is the task's step checker's reward per step; it needs `segment` and a task with a step checker (countdown)");
    expect(d.hint).toBe(hint);
    expect(text.split("\n")[d.span!.line - 1]!.slice(d.span!.col - 1, d.span!.col - 1 + 11)).toBe("step_reward");
  });
});

describe("acpo export verl: prm_steps", () => {
  it("is refused with the reason: verl has no step checker", () => {
    const p = loadPipeline("examples/prm_steps.acpo").pipeline!;
    let reasons: string[] = [];
    try {
      planExport(p);
    } catch (e) {
      if (!(e instanceof ExportRefused)) throw e;
      reasons = e.reasons;
    }
    expect(reasons).toEqual(["the advantage reads `step_reward`: the task's step checker's per-step rewards, which neither verl's reward manager nor the ACPO trainer subclass computes"]);
  });
});

describe("hover: step_reward", () => {
  it("names what it needs: segment and a task with a step checker", () => {
    const path = resolve("examples/prm_steps.acpo");
    const text = readFileSync(path, "utf8");
    const a = analyze(path, text);
    const hit = locate(a.ast!, path, text.indexOf("(step_reward - 1)") + 1)!;
    expect(hoverText(a.ast!, hit)).toMatch(/^`step_reward`: built-in step-level number\n\nthe task's step checker on this step alone: .* Needs a `segment` block and a task with a step checker \(countdown\)\.$/s);
  });
});
