// The update's policy passes in the shared-prefix layout (batch.ts sharedLayout, loss-head.ts
// policyHidden) against whole rows (ACPO_UPDATE_WHOLE_ROWS=1) on the same trajectories: GRPO's
// stage kernels, a reference policy (kl), groups of different sizes in mixed order, prompts of
// different lengths, responses of different lengths (one empty). The summary (loss, kl, ...),
// every per-token column, the reference log-probs and every weight gradient agree within f32
// tolerance (1e-4 of each tensor's largest magnitude).
import { afterEach, describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { SUMMARY_FIELDS, TOK_COLUMNS } from "../../compiler/plan/artifact.js";
import { generateStage } from "../../compiler/codegen/index.js";
import { StageRunner } from "../../compiler/codegen/runner.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { buildBatch } from "../../runtime/loop/rl/batch.js";
import { lossHeadChunked, targetLogpChunked } from "../../runtime/loop/rl/loss-head.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randInts, rng } from "../helpers/numeric.js";
import { qwen2Config } from "../helpers/models.js";

const V = 53;

function trajectories(seed: number): Trajectory[] {
  const r = rng(seed), prompts = [7, 12, 4].map((L, g) => Array.from(randInts(L, seed + g, V)));
  const sizes = [4, 2, 3], out: Trajectory[] = [];
  sizes.forEach((n, group) => {
    for (let i = 0; i < n; i++) {
      const L = group === 1 && i === 1 ? 0 : 1 + Math.floor(r() * 9);
      const reward = r() < 0.5 ? 1 : 0;
      out.push({
        problem: { id: `q${group}`, split: "train", prompt: "p" }, group, promptIds: prompts[group]!,
        responseIds: Array.from(randInts(L, seed * 7 + out.length, V)), oldLogp: Array.from({ length: L }, () => -1 - r()),
        entropies: Array.from({ length: L }, () => r()), text: "", verdict: { reward, correct: reward === 1, answer: null, reason: "" },
        segmentation: null, C: [],
      });
    }
  });
  return out.sort(() => r() - 0.5);
}

afterEach(() => {
  delete process.env.ACPO_UPDATE_WHOLE_ROWS;
});

describe("the update in the shared-prefix layout", () => {
  it("gives whole rows' loss, token columns, reference log-probs and gradients", async () => {
    const gpu = await testGpu();
    const p = loadPipeline("examples/grpo.acpo").pipeline!;
    const runner = new StageRunner(gpu, generateStage(lowerStage(p, p.stages[0]!)));
    const c = qwen2Config(V, 32, 64, false);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 3)));
    const reference = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 4)));
    const trajs = trajectories(5);
    const pass = async (wholeRows: boolean) => {
      if (wholeRows) process.env.ACPO_UPDATE_WHOLE_ROWS = "1";
      else delete process.env.ACPO_UPDATE_WHOLE_ROWS;
      const b = buildBatch(gpu, trajs);
      expect(b.shared === null).toBe(wholeRows);
      const ref = targetLogpChunked(gpu, reference, b, 0.9, "ref logp");
      const old = gpu.upload(b.rolloutLogp, [b.B * b.T], "old logp");
      model.weights.zeroGrads();
      const out = lossHeadChunked(gpu, model, runner, b, {
        dims: { B: b.B, T: b.T, S: b.S, NG: b.NG, V }, ids: b.targets, tstep: b.tstep, oldLogp: old, refLogp: ref,
        seq: b.seq, steps: b.steps, temperature: 0.9, counters: { steps: 1, totalSteps: 10, seed: 3 },
      });
      const summary = await runner.readSummary(out), tok = await runner.readTokens(out, b.B * b.T), refLogp = await gpu.read(ref);
      const grads = new Map<string, Float32Array>();
      for (const [name, g] of model.weights.grads) grads.set(name, await gpu.read(g));
      runner.release(out);
      gpu.release(ref, old);
      const packed = b.shared?.N ?? b.B * b.T;
      b.release();
      return { summary, tok, refLogp, grads, packed, slots: b.B * b.T };
    };
    const whole = await pass(true), shared = await pass(false);
    expect(shared.packed).toBeLessThan(0.75 * shared.slots); // the prompts ran once
    expect(Math.abs(whole.summary.kl)).toBeGreaterThan(0);
    for (const k of SUMMARY_FIELDS) expectClose([shared.summary[k]], [whole.summary[k]], 1e-7, 1e-4, k);
    for (const k of TOK_COLUMNS) expectClose(shared.tok[k], whole.tok[k], 1e-6, 1e-4, `token column ${k}`);
    expectClose(shared.refLogp, whole.refLogp, 1e-6, 1e-4, "reference log p");
    for (const [name, want] of whole.grads) {
      const scale = Math.max(...want.map(Math.abs));
      expect(scale, name).toBeGreaterThan(0);
      expectClose(shared.grads.get(name)!, want, 1e-4 * scale, 0, `gradient of ${name}`);
    }
    model.release();
    reference.release();
  });
});
