// The interpreter is the definition of a pipeline's meaning: known values from
// spec/algorithms.md computed by hand, and its logits gradient (from the IR rule table)
// against central finite differences of its own loss, for every example.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPipeline, type Pipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { expectClose, finiteDiff } from "../../helpers/numeric.js";
import { withBody } from "../helpers.js";
import { randomBatch } from "./random-batch.js";
import { handBatch } from "./hand-batch.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".acpo"));

function load(path: string, text?: string, set?: string[]): Pipeline {
  const r = loadPipeline(path, { text, set });
  if (!r.pipeline) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.pipeline;
}

describe("known values", () => {
  it("GRPO: group-normalised advantage with sample std and eps 1e-4", () => {
    const p = load("examples/grpo.acpo");
    const r = [1, 0, 0, 1, 1];
    const b = handBatch(r, [1, 1, 1, 1, 1], { logp: [-1, -1, -1, -1, -1], old: [-1, -1, -1, -1, -1], ref: [-1, -1, -1, -1, -1] });
    const res = interpretStage(lowerStage(p, p.stages[0]!), b);
    const mean = 0.6;
    const std = Math.sqrt(((0.4 ** 2) * 3 + (0.6 ** 2) * 2) / 4); // ddof 1
    const want = r.map((x) => (x - mean) / (std + 1e-4));
    expectClose(res.named.find((x) => x.name === "base_advantage")!.values, want, 1e-12, 1e-12);
    // ratio 1, k3 = 0: loss = mean over responses of -A (one token each).
    expect(res.loss).toBeCloseTo(-want.reduce((a, x) => a + x, 0) / 5, 12);
  });

  it("PPO clipping flags at and beyond the boundaries", () => {
    const p = load("examples/dapo.acpo"); // eps_low 0.2, eps_high 0.28, token_mean
    // Two responses of one group: rewards 1 and 0 give A = +-0.5/(sqrt(0.5) + 1e-6) (sample std sqrt(0.5)).
    const ratios = [0.79, 0.8, 1.28, 1.29];
    const logp = ratios.map(Math.log);
    const b = handBatch([1, 0], [4, 4], { logp: [...logp, ...logp], old: new Array(8).fill(0) });
    const t = interpretStage(lowerStage(p, p.stages[0]!), b).tokens;
    const at = (i: number, t_: number) => i * 4 + t_;
    // A > 0: only rho > 1 + eps_high clips; A < 0: only rho < 1 - eps_low clips. The boundary itself does not.
    expect([0, 1, 2, 3].map((k) => t.clipHigh[at(0, k)])).toEqual([0, 0, 0, 1]);
    expect([0, 1, 2, 3].map((k) => t.clipLow[at(0, k)])).toEqual([0, 0, 0, 0]);
    expect([0, 1, 2, 3].map((k) => t.clipLow[at(1, k)])).toEqual([1, 0, 0, 0]);
    expect([0, 1, 2, 3].map((k) => t.clipHigh[at(1, k)])).toEqual([0, 0, 0, 0]);
    // A clipped token has no policy gradient; an unclipped one has -A * rho / N.
    const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
    expect(t.dlogp[at(0, 3)]).toBe(0);
    expect(t.dlogp[at(0, 2)]).toBeCloseTo((-A * 1.28) / 8, 12);
    expect(t.dlogp[at(1, 0)]).toBe(0);
  });

  it("Dr. GRPO: token sums divided by M * norm_constant, advantage without std", () => {
    const p = load("examples/dr_grpo.acpo"); // norm_constant 96
    const b = handBatch([1, 0, 0], [2, 3, 1], { logp: new Array(6).fill(-1), old: new Array(6).fill(-1) });
    const res = interpretStage(lowerStage(p, p.stages[0]!), b);
    const A = [2 / 3, -1 / 3, -1 / 3];
    expect(res.loss).toBeCloseTo(-(A[0]! * 2 + A[1]! * 3 + A[2]! * 1) / (3 * 96), 14);
    expectClose(res.named.find((x) => x.name === "advantage")!.values, A, 1e-15, 0);
  });

  it("GSPO: one length-normalised sequence ratio per response, clipped per sequence", () => {
    const p = load("examples/gspo.acpo");
    const lp = [-1, -2, -0.5, -1];
    const old = [-1.1, -2.05, -0.5, -1.0002];
    const b = handBatch([1, 0], [2, 2], { logp: lp, old });
    const t = interpretStage(lowerStage(p, p.stages[0]!), b).tokens;
    const s0 = Math.exp((lp[0]! - old[0]! + lp[1]! - old[1]!) / 2);
    const s1 = Math.exp((lp[2]! - old[2]! + lp[3]! - old[3]!) / 2);
    expectClose(Array.from(t.ratio), [s0, s0, s1, s1], 1e-14, 1e-14);
    // s0 = exp(0.075) > 1 + 4e-4 with A > 0: clipped, no gradient. s1 = exp(1e-4) inside the band.
    expect(Array.from(t.clipHigh)).toEqual([1, 1, 0, 0]);
    expect(t.dlogp[0]).toBe(0);
    // loss_i = -(1/M) s A (the |o| token terms average to one), ds/dlogp_t = s / |o|:
    // d loss / d logp_t = -A s / (M |o|) = -A s / 4, positive since A < 0.
    const A1 = -0.5 / (Math.sqrt(0.5) + 1e-4);
    expect(t.dlogp[2]).toBeCloseTo((-A1 * s1) / (2 * 2), 12);
  });

  it("k1, k2, k3 KL estimators", () => {
    for (const [est, f] of [
      ["k1", (d: number) => -d],
      ["k2", (d: number) => (d * d) / 2],
      ["k3", (d: number) => Math.exp(d) - d - 1],
    ] as const) {
      const text = withBody("", { stage: false }).replace("}\n", "}\n").replace(/\n}\n$/, `\n  stage s until steps >= 1 { reference initial  kl ${est} }\n}\n`);
      const p = load("test/compiler/inline.acpo", text);
      const lp = [-1, -0.3, -2];
      const ref = [-1.5, -0.3, -0.2];
      const b = handBatch([1, 0, 1], [1, 1, 1], { logp: lp, old: lp, ref });
      const kl = interpretStage(lowerStage(p, p.stages[0]!), b).tokens.kl;
      expectClose(Array.from(kl), lp.map((x, i) => f(ref[i]! - x)), 1e-15, 1e-14, est);
    }
  });
});

describe("logits gradient from the rule table vs finite differences", () => {
  for (const file of examples) {
    it(file, () => {
      const p = load(`examples/${file}`);
      for (const stage of p.stages) {
        const prog = lowerStage(p, stage);
        const b = randomBatch({ groups: 2, perGroup: 3, T: 6, V: 5, S: 3 }, 11);
        const base = interpretStage(prog, b);
        // Stop-gradient values (advantage, weight, mask) stay at the base point, as the derivative assumes.
        const fd = finiteDiff(() => interpretStage(prog, b, { frozen: base.values }).loss, b.logits!, 1e-6);
        expectClose(base.dlogits!, fd, 1e-7, 1e-5, `${file} ${stage.name} dlogits`);
      }
    });
  }

  it("an entropy bonus and dual clip differentiate through H and the bound", () => {
    const text = withBody("").replace("aggregate token_mean", "aggregate seq_mean_token_sum  entropy_bonus 0.01  dual_clip 3");
    const p = load("test/compiler/inline.acpo", text);
    const prog = lowerStage(p, p.stages[0]!);
    const b = randomBatch({ groups: 2, perGroup: 3, T: 6, V: 5, S: 1 }, 5);
    const base = interpretStage(prog, b);
    expect(Array.from(base.tokens.dH).some((x) => x !== 0)).toBe(true);
    const fd = finiteDiff(() => interpretStage(prog, b, { frozen: base.values }).loss, b.logits!, 1e-6);
    expectClose(base.dlogits!, fd, 1e-7, 1e-5, "dlogits");
  });

  it("a policy-dependent quantile in the KL term is a compile error, not a silent zero", () => {
    const text = withBody("", { stage: false }).replace(/\n}\n$/, "\n  stage s until steps >= 1 { reference initial  kl k1 * quantile(logp over seq, 0.5) }\n}\n");
    const p = load("test/compiler/inline.acpo", text);
    expect(() => lowerStage(p, p.stages[0]!)).toThrow(/no derivative/);
  });
});
