// Truncated importance sampling between the sampler's and the trainer's log-probs (issue 15):
// `rollout_logp` and `loss ... { tis_cap C }` on a hand-made batch against TRL's
// vllm_importance_sampling_correction (token_truncate) formula, in the interpreter, the
// kernels and the PyTorch back end; recorded batches without rollout log-probs are refused.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { printPipeline, type Pipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { BatchError, readBatchFile } from "../../../compiler/plan/batch-file.js";
import { replay } from "../../../compiler/plan/replay.js";
import { stageFunction, stagesModule } from "../../../compiler/torch/index.js";
import { expectClose } from "../../helpers/numeric.js";
import { runTorchJobs, writePackage } from "../../export/torch.js";
import { check, withBody } from "../helpers.js";
import { handBatch, onGpu, responseValues } from "./hand-batch.js";

const LOSS = "loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }";

function ok(text: string): Pipeline {
  const r = check(text);
  if (!r.pipeline) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.pipeline;
}

/** handBatch's layout (responses from slot 0, padded to the longest) with the sampler's log-probs. */
function withRollout(b: Batch, lens: number[], rollout: number[]): Batch {
  const out = new Float64Array(b.B * b.T);
  let j = 0;
  lens.forEach((L, i) => { for (let t = 0; t < L; t++) out[i * b.T + t] = rollout[j++]!; });
  return { ...b, rolloutLogp: out };
}

describe("truncated importance sampling (tis_cap)", () => {
  // Two responses, rewards 1 and 0: A = +0.5, -0.5 (withBody's r - mean(r over group)). On-policy for
  // the trainer (logp = old_logp), but the sampler saw other log-probs: exp(old - rollout) = 1.5, 3 (capped at 2), 0.5.
  const lens = [2, 1];
  const old = [-1, -0.4, -2];
  const rollout = [-1 - Math.log(1.5), -0.4 - Math.log(3), -2 - Math.log(0.5)];
  const A = [0.5, 0.5, -0.5];
  const text = withBody("").replace(LOSS, "loss ppo_clip { eps_low 0.2  eps_high 0.2  tis_cap 2  aggregate token_mean }");

  /** TRL: per_token_loss = -min(ρ A, clip(ρ) A) * clamp(exp(old - sampling), max=cap); token mean. */
  function trl(cap: number): { loss: number; grad: number[] } {
    const w = old.map((o, j) => Math.min(Math.exp(o - rollout[j]!), cap));
    return { loss: w.reduce((s, x, j) => s - x * A[j]!, 0) / 3, grad: w.map((x, j) => (-x * A[j]!) / 3) };
  }

  it("weighs each token's policy term by min(exp(old_logp - rollout_logp), cap), a constant to the gradient", async () => {
    const p = ok(text);
    const b = withRollout(handBatch([1, 0], lens, { logp: old, old }), lens, rollout);
    const r = await onGpu(p, b, "tis");
    const ref = trl(2);
    expect(r.loss).toBeCloseTo(ref.loss, 12);
    expectClose(responseValues(b, r.tokens.dlogp), ref.grad, 1e-12, 1e-12, "d loss / d logp");
    // Without tis_cap the same batch ignores the sampler: every weight 1.
    const plain = interpretStage(lowerStage(ok(withBody("")), ok(withBody("")).stages[0]!), b);
    expect(plain.loss).toBeCloseTo(-(0.5 + 0.5 - 0.5) / 3, 12);
  });

  it("PyTorch's autograd agrees", () => {
    const p = ok(text);
    const prog = lowerStage(p, p.stages[0]!);
    const b = withRollout(handBatch([1, 0], lens, { logp: old, old }), lens, rollout);
    const [got] = runTorchJobs(writePackage("acpo_tis", { tis: stagesModule([prog], "tis test") }), [{ module: "tis", fn: stageFunction(prog).name, batch: b, params: {} }]);
    expect(got!.outputs.loss![0]).toBeCloseTo(trl(2).loss, 12);
    expectClose(responseValues(b, got!.grad!.logp), trl(2).grad, 1e-12, 1e-12, "autograd");
  });

  it("checks the cap and writes it in --explain", () => {
    const bad = check(withBody("").replace(LOSS, "loss cispo { eps_high 0.28  tis_cap 0  aggregate token_mean }"));
    expect(bad.diagnostics.map((d) => [d.code, d.message])).toEqual([["E0401", "`tis_cap` must be a number > 0, found 0"]]);
    expect(printPipeline(ok(text))).toContain("tis_cap 2  aggregate token_mean");
    expect(printPipeline(ok(withBody("")))).not.toContain("tis_cap");
  });

  it("replay needs the sampler's log-probs in the recorded batch", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-tis-"));
    const f = join(dir, "batch.json");
    const traj = (extra: object) => ({ group: 0, reward: 1, tokens: [1, 2], old_logp: [-1, -1], logp: [-1, -1], entropy: [1, 1], ...extra });
    writeFileSync(f, JSON.stringify({ trajectories: [traj({}), traj({ rollout_logp: [-1.1, -0.9] })] }));
    const file = readBatchFile(f);
    expect(file.has.rollout).toBe(false);
    await expect(replay(ok(text), undefined, file, f)).rejects.toThrow(BatchError);
    await expect(replay(ok(text), undefined, file, f)).rejects.toThrow(`${f}: stage 'train' reads the sampler's log-probs (rollout_logp, tis_cap); every trajectory needs 'rollout_logp'`);
    writeFileSync(f, JSON.stringify({ trajectories: [traj({ rollout_logp: [-1.2, -1] }), traj({ rollout_logp: [-1.1, -0.9] })] }));
    expect(Array.from(readBatchFile(f).batch.rolloutLogp!)).toEqual([-1.2, -1, -1.1, -0.9]);
  });
});
