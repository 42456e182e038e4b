// The credit path against its references on hand-made batches (issue 11): the KL figures
// (TRL's `kl`, the loss's KL term), the rollout temperature in every log-prob, the dual clip
// under a token weight, GSPO's ratio over the tokens in the loss, `rand` per minibatch,
// and the examples that follow TRL / verl (entropy_top20, clip_cov). Each value is worked
// out by hand (float64 interpreter), and the compiled kernels must agree with it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPipeline, type Pipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { minibatchSeed, randAt } from "../../../compiler/interpret/rand.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { expectClose, finiteDiff } from "../../helpers/numeric.js";
import { withBody } from "../helpers.js";
import { handBatch, onGpu, responseValues } from "./hand-batch.js";
import { randomBatch } from "./random-batch.js";

function load(path: string, text?: string, set?: string[]): Pipeline {
  const r = loadPipeline(path, { text, set });
  if (!r.pipeline) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.pipeline;
}

/** An example's text with `from` replaced by `to` (the replacement must apply). */
function variant(example: string, from: string | RegExp, to: string): Pipeline {
  const path = `examples/${example}.acpo`;
  const text = readFileSync(path, "utf8");
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${path}: nothing to replace`);
  return load(path, changed);
}

const k3 = (logp: number, ref: number) => Math.exp(ref - logp) - (ref - logp) - 1;

describe("KL figures: the raw estimator and the loss's KL term", () => {
  it("GRPO (0.04 * k3, seq_mean_token_mean): kl is TRL's token mean of k3, kl_loss the aggregated 0.04 * k3", async () => {
    const p = load("examples/grpo.acpo");
    const lp = [-1, -0.5, -2, -0.3];
    const ref = [-1.4, -0.5, -0.9, -1.3];
    const b = handBatch([1, 0], [1, 3], { logp: lp, old: lp, ref });
    const est = lp.map((x, i) => k3(x, ref[i]!));
    const r = await onGpu(p, b, "grpo");
    expect(r.summary.kl).toBeCloseTo(est.reduce((a, x) => a + x, 0) / 4, 14);
    // Two responses: (1/2) (0.04 k3_0 / 1 + 0.04 (k3_1 + k3_2 + k3_3) / 3).
    expect(r.summary.kl_loss).toBeCloseTo(0.5 * (0.04 * est[0]! + (0.04 * (est[1]! + est[2]! + est[3]!)) / 3), 14);
    expectClose(responseValues(b, r.tokens.klEstimate), est, 1e-15, 1e-14, "per-token k3");
  });

  it("the stage's own estimator (k1), and no KL figure without a reference", () => {
    const p = variant("grpo", "kl beta * k3", "kl beta * k1");
    const lp = [-1, -0.5];
    const ref = [-1.4, -0.2];
    const r = interpretStage(lowerStage(p, p.stages[0]!), handBatch([1, 0], [1, 1], { logp: lp, old: lp, ref }));
    expect(r.summary.kl).toBeCloseTo(((-1 + 1.4) + (-0.5 + 0.2)) / 2, 14);
    const dapo = load("examples/dapo.acpo");
    const none = interpretStage(lowerStage(dapo, dapo.stages[0]!), handBatch([1, 0], [1, 1], { logp: lp, old: lp }));
    expect(none.summary.kl).toBeNaN();
    expect(none.summary.kl_loss).toBe(0);
  });
});

describe("rollout temperature", () => {
  it("logp, H and the logits gradient are of softmax(logits / T), in the interpreter and the kernels", async () => {
    const p = load("examples/grpo.acpo");
    const T = 0.7;
    const b = randomBatch({ groups: 2, perGroup: 3, T: 6, V: 5, S: 1, temperature: T }, 21);
    const r = await onGpu(p, b, "grpo at T = 0.7");
    for (let n = 0; n < b.B * b.T; n++) {
      if (b.stepIdx[n]! < 0) continue;
      const z = Array.from({ length: b.V }, (_, v) => b.logits![n * b.V + v]! / T);
      const lse = Math.log(z.reduce((a, x) => a + Math.exp(x), 0));
      expect(r.tokens.logp[n]).toBeCloseTo(z[b.ids[n]!]! - lse, 12);
      expect(r.tokens.H[n]).toBeCloseTo(-z.reduce((a, x) => a + Math.exp(x - lse) * (x - lse), 0), 12);
    }
    const prog = lowerStage(p, p.stages[0]!);
    const fd = finiteDiff(() => interpretStage(prog, b, { frozen: interpretStage(prog, b).values }).loss, b.logits!, 1e-6);
    expectClose(r.dlogits!, fd, 1e-7, 1e-5, "dlogits vs finite differences at T = 0.7");
  });
});

describe("dual clip under a token weight", () => {
  it("the weight scales the dual-clip branch like the other: w * min(-rho A, -c A)", async () => {
    const text = withBody("").replace("aggregate token_mean", "aggregate seq_mean_token_sum  dual_clip 3").replace("{ kl 0 }", "{ kl 0  token_weight 0.5 }");
    const p = load("test/compiler/inline.acpo", text);
    // A = r - mean = +0.5, -0.5. Response 1's token has rho = 10: surrogate -5, dual bound -c A = 1.5.
    const b = handBatch([1, 0], [1, 1], { logp: [-1, Math.log(10) - 1], old: [-1, -1] });
    const r = await onGpu(p, b, "dual clip");
    expect(responseValues(b, r.tokens.tokenLoss)).toEqual([-0.5 * 0.5, expect.closeTo(0.5 * 1.5, 12)]);
    expect(responseValues(b, r.tokens.dual)).toEqual([0, 1]);
    expect(r.loss).toBeCloseTo((-0.25 + 0.75) / 2, 12);
  });
});

describe("GSPO's sequence ratio", () => {
  it("averages log ratios over the tokens in the loss only (TRL: masked sum / clamped count)", async () => {
    const p = variant("gspo", "stage train until steps >= 200 { kl 0 }", "stage train until steps >= 200 { kl 0  token_mask position != 1 }");
    const old = [-1, -1, -1, -2, -2, -2];
    const lp = [-0.9, 4, -0.7, -2, -2, -2.0003];
    const r = await onGpu(p, handBatch([1, 0], [3, 3], { logp: lp, old }), "gspo masked");
    const s0 = Math.exp((0.1 + 0.3) / 2), s1 = Math.exp(-0.0003 / 2);
    expectClose(responseValues(handBatch([1, 0], [3, 3], { logp: lp, old }), r.tokens.ratio), [s0, s0, s0, s1, s1, s1], 1e-14, 1e-13, "ratios");
  });
});

describe("rand", () => {
  it("draws different numbers in every epoch and minibatch of a step, the same in both back ends", async () => {
    const step = 0x1234abcd;
    const seeds = [0, 1].flatMap((epoch) => [0, 1, 2, 3].map((i) => minibatchSeed(step, epoch, i, 4)));
    expect(new Set(seeds).size).toBe(8);
    expect(new Set(seeds.map((s) => randAt(s, 0))).size).toBe(8);
    const text = withBody("").replace("{ kl 0 }", "{ kl 0  token_weight rand }");
    const p = load("test/compiler/inline.acpo", text);
    const b = handBatch([1, 0], [2, 3], { logp: [-1, -1, -1, -1, -1], old: [-1, -1, -1, -1, -1] }, seeds[5]);
    const r = await onGpu(p, b, "rand weight");
    expect(responseValues(b, r.tokens.weight)).toEqual([0, 1, 3, 4, 5].map((n) => randAt(seeds[5]!, n)));
  });
});

describe("examples that follow a reference", () => {
  it("entropy_top20: low-entropy tokens get weight 0 but stay in the token-mean's count (paper, TRL)", async () => {
    const p = load("examples/entropy_top20.acpo");
    const H = [0.1, 2.0, 0.3, 1.5, 0.2];
    const lp = [-1, -1, -1, -1, -1];
    const b = handBatch([1, 0], [3, 2], { logp: lp, old: lp, H });
    const r = await onGpu(p, b, "entropy_top20");
    // quantile(H, 0.8) = 1.5 + 0.2 * 0.5 = 1.6: only the token with H = 2 keeps its gradient.
    expect(responseValues(b, r.tokens.weight)).toEqual([0, 1, 0, 0, 0]);
    expect(r.summary.tokens).toBe(5);
    const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
    expect(r.loss).toBeCloseTo(-A / 5, 12);
    expect(responseValues(b, r.tokens.dlogp)).toEqual([0, expect.closeTo(-A / 5, 12), 0, 0, 0]);
  });

  describe("clip_cov: exactly max(floor(r N), 1) eligible tokens detached at random (verl)", () => {
    // Rewards 1, 0, 0, 0: A = 0.75 / (0.5 + 1e-6) and -0.25 / (0.5 + 1e-6); N = 12 tokens;
    // A's token mean (verl's centring) is (4 A_0 + 8 A_1) / 12, not the per-response mean 0.
    const lens = [4, 2, 3, 3];
    const lp = [-0.5, -0.5, -0.5, -4, -6, -3, -3, -3, -6, -3, -3, -3];
    const old = [...lp];
    old[1] = lp[1]! - Math.log(1.5); // rho = 1.5 > 1.28 with A > 0: already clipped by PPO, never eligible
    const batch = () => handBatch([1, 0, 0, 0], lens, { logp: lp, old }, 777);
    // cov = (logp - mean logp) (A - A_tok) lies in (1, 5) at tokens 0, 1, 2 (A > 0) and 4, 8 (A < 0).
    const eligible = [0, 2, 4, 8];
    const slots = (b: Batch) => { const s: number[] = []; for (let n = 0; n < b.B * b.T; n++) if (b.stepIdx[n]! >= 0) s.push(n); return s; };

    it.each([
      [2e-4, 1], // the paper's and verl's ratio: r N = 0.0024, floor 0, at least 1
      [0.2, 2], // r N = 2.4
      [0.25, 3], // r N = 3 exactly
      [0.5, 4], // r N = 6 > 4 eligible: all of them
    ])("clip_ratio %s detaches %s", async (ratio, k) => {
      const p = load("examples/clip_cov.acpo");
      const b = batch();
      const r = await onGpu(p, b, `clip_cov ${ratio}`, { clip_ratio: ratio });
      const A0 = 0.75 / (0.5 + 1e-6), A1 = -0.25 / (0.5 + 1e-6);
      expect(r.named.find((x) => x.name === "A_tok")!.values[0]).toBeCloseTo((4 * A0 + 8 * A1) / 12, 12);
      const w = responseValues(b, r.tokens.weight);
      const detached = w.flatMap((x, j) => (x === 0 ? [j] : []));
      // The k eligible tokens with the smallest rand draws.
      const s = slots(b);
      const byRand = [...eligible].sort((a, c) => randAt(777, s[a]!) - randAt(777, s[c]!));
      expect(detached).toEqual(byRand.slice(0, k).sort((a, c) => a - c));
      expect(r.summary.tokens).toBe(12); // detached tokens stay in the token-mean's count
    });
  });
});
