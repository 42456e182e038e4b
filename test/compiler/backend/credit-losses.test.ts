// Losses other than PPO-clip (issue 15): CISPO and GMPO on hand-made batches, against
// their reference formulas transcribed from the papers / verl (`cispo`, `geo_mean`), in the
// float64 interpreter and the compiled kernels (hand-batch.ts holds them equal), with the
// logged loss, ratio and clip fractions of each, and the checker's rules for their settings.
import { describe, expect, it } from "vitest";
import { loadPipeline, type Pipeline } from "../../../compiler/index.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { expectClose } from "../../helpers/numeric.js";
import { check, withBody } from "../helpers.js";
import { handBatch, onGpu, responseValues } from "./hand-batch.js";

function load(path: string): Pipeline {
  const r = loadPipeline(path);
  if (!r.pipeline) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.pipeline;
}

// Two responses, rewards 1 and 0: A = ±0.5 / (std 0.5 + 1e-6) (population std, as the examples).
const a = 0.5 / (0.5 + 1e-6);

describe("CISPO (MiniMax-M1 eqs. 4-5, verl `cispo`)", () => {
  // Response 0 (A = +a): ratios 1.5 (capped at 1.28) and 0.9; response 1 (A = -a): 2 (capped) and 0.1 (no lower bound).
  const old = [-1, -1, -2, -0.5];
  const rho = [1.5, 0.9, 2, 0.1];
  const lp = old.map((o, j) => o + Math.log(rho[j]!));
  const A = [a, a, -a, -a];

  /** The reference: -clamp(ratio, 1 - eps_low, 1 + eps_high).detach() * A * logp, token-mean. */
  function reference(epsLow: number, epsHigh: number): { loss: number; grad: number[] } {
    const w = rho.map((r) => Math.min(Math.max(r, 1 - epsLow), 1 + epsHigh));
    const per = w.map((x, j) => -x * A[j]! * lp[j]!);
    return { loss: per.reduce((s, x) => s + x, 0) / 4, grad: w.map((x, j) => (-x * A[j]!) / 4) };
  }

  it("loss, gradient (through logp only: the capped token keeps -w A / N) and clip fractions", async () => {
    const p = load("examples/cispo.acpo");
    const b = handBatch([1, 0], [2, 2], { logp: lp, old });
    const r = await onGpu(p, b, "cispo");
    const ref = reference(1, 0.28);
    expect(r.loss).toBeCloseTo(ref.loss, 12);
    expectClose(responseValues(b, r.tokens.dlogp), ref.grad, 1e-12, 1e-12, "d loss / d logp");
    // PPO-clip would give the first token no gradient (ratio 1.5 > 1.28 with A > 0); CISPO gives -1.28 a / 4.
    expect(responseValues(b, r.tokens.dlogp)[0]).toBeCloseTo((-1.28 * a) / 4, 12);
    expectClose(responseValues(b, r.tokens.ratio), rho, 1e-12, 1e-12, "ratio");
    expect(r.summary.clip_high).toBe(0.5); // tokens 0 and 2: capped whatever A's sign
    expect(r.summary.clip_low).toBe(0); // eps_low 1: no lower bound
    expect(r.summary.dual_clip).toBe(0);
  });

  it("a lower bound when eps_low < 1 caps small weights from below", () => {
    const text = withBody("").replace("loss ppo_clip { eps_low 0.2  eps_high 0.2", "loss cispo { eps_low 0.2  eps_high 0.28");
    const r = check(text);
    expect(r.diagnostics).toEqual([]);
    const p = r.pipeline!;
    // withBody's advantage is r - mean(r over group): ±0.5.
    const b = handBatch([1, 0], [2, 2], { logp: lp, old });
    const out = interpretStage(lowerStage(p, p.stages[0]!), b);
    const w = rho.map((x) => Math.min(Math.max(x, 0.8), 1.28));
    const adv = [0.5, 0.5, -0.5, -0.5];
    expect(out.loss).toBeCloseTo(w.reduce((s, x, j) => s - x * adv[j]! * lp[j]!, 0) / 4, 12);
    expect(out.summary.clip_low).toBe(0.25); // ratio 0.1 < 0.8
  });
});

describe("GMPO (Zhao et al. 2025, verl `geo_mean`)", () => {
  // Response 0 (A = +a): log ratios 0.1, 0.6 (clipped to 0.4), -0.7 (kept: the min side);
  // response 1 (A = -a): -0.5 (clipped to -0.4), 0.2 (kept: the max side).
  const x = [0.1, 0.6, -0.7, -0.5, 0.2];
  const old = [-1, -2, -0.5, -1.5, -1];
  const lp = old.map((o, j) => o + x[j]!);
  const lens = [3, 2];
  const A = [a, a, a, -a, -a];

  /** verl's geo_mean, transcribed: sgn(A) min(sgn(A) x, sgn(A) clamp(x, -lo, hi)), exp of the masked mean, -Ā s, mean over responses. */
  function reference(lo: number, hi: number): { loss: number; s: number[] } {
    const c = x.map((v, j) => {
      const sg = Math.sign(A[j]!);
      return sg * Math.min(sg * v, sg * Math.min(Math.max(v, -lo), hi));
    });
    const s: number[] = [];
    const losses: number[] = [];
    let start = 0;
    for (const n of lens) {
      const sum = (xs: number[]) => xs.slice(start, start + n).reduce((t, v) => t + v, 0);
      const si = Math.exp(sum(c) / (n + 1e-8));
      losses.push(-(sum(A) / (n + 1e-8)) * si);
      s.push(si);
      start += n;
    }
    return { loss: losses.reduce((t, v) => t + v, 0) / lens.length, s };
  }

  it("loss, sequence ratio, gradient (zero at clipped tokens) and clip fractions", async () => {
    const p = load("examples/gmpo.acpo");
    const b = handBatch([1, 0], lens, { logp: lp, old });
    const r = await onGpu(p, b, "gmpo");
    const ref = reference(0.4, 0.4);
    // verl divides by n + 1e-8, acpo by n: each response's term differs by under 1e-8 of it (|term| < a).
    expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-8 * a);
    const s0 = Math.exp((0.1 + 0.4 - 0.7) / 3), s1 = Math.exp((-0.4 + 0.2) / 2);
    expect(r.loss).toBeCloseTo((-a * s0 + a * s1) / 2, 12);
    expectClose(responseValues(b, r.tokens.ratio), [s0, s0, s0, s1, s1], 1e-12, 1e-12, "sequence ratio");
    // d/d logp_t of (1/2)(-a s0) = -(a / 2) s0 / 3 at unclipped tokens; of (1/2)(a s1) = (a / 2) s1 / 2.
    expectClose(responseValues(b, r.tokens.dlogp), [-(a * s0) / 6, 0, -(a * s0) / 6, 0, (a * s1) / 4], 1e-12, 1e-12, "d loss / d logp");
    expect(r.summary.clip_high).toBeCloseTo(1 / 5, 14); // 0.6 > 0.4 with A > 0
    expect(r.summary.clip_low).toBeCloseTo(1 / 5, 14); // -0.5 < -0.4 with A < 0
  });

  it("a token with A = 0 contributes a log ratio of 0 to its response's mean (sgn(A) = 0)", () => {
    const text = withBody("").replace("loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }", "loss gmpo { eps_low 0.4  eps_high 0.4 }")
      .replace("advantage = r - mean(r over group)", "advantage = if position == 0 then 0 else r - mean(r over group)");
    const p = check(text).pipeline!;
    const b = handBatch([1, 0], [2, 2], { logp: [-0.7, -1, -1, -1], old: [-1, -1, -1, -1.1] });
    const out = interpretStage(lowerStage(p, p.stages[0]!), b);
    // Response 0: c = [0 (A = 0), 0]; response 1: c = [0, 0.1]. Ā = 0.25 and -0.25.
    const s1 = Math.exp(0.1 / 2);
    expect(out.loss).toBeCloseTo((-0.25 * 1 + 0.25 * s1) / 2, 14);
  });
});

describe("SAPO (Gao et al. 2025, verl `sapo`)", () => {
  // Response 0 (A = +a): ratios 1.2, 0.7; response 1 (A = -a): ratio 1.5.
  const old = [-1, -0.5, -2];
  const rho = [1.2, 0.7, 1.5];
  const lp = old.map((o, j) => o + Math.log(rho[j]!));
  const A = [a, a, -a];
  const sig = (x: number) => 1 / (1 + Math.exp(-x));

  it("loss (verl's gate, seq-mean-token-mean), gradient 4 σ (1 - σ) ρ A per token, no clipping", async () => {
    const p = load("examples/sapo.acpo");
    const b = handBatch([1, 0], [2, 1], { logp: lp, old });
    const r = await onGpu(p, b, "sapo");
    const tau = A.map((x) => (x > 0 ? 1 : 1.05));
    const gate = rho.map((x, j) => sig(tau[j]! * (x - 1)) * (4 / tau[j]!));
    const per = gate.map((x, j) => -x * A[j]!);
    expect(r.loss).toBeCloseTo(((per[0]! + per[1]!) / 2 + per[2]!) / 2, 12);
    const w = [1 / 4, 1 / 4, 1 / 2]; // 1 / (M n_i)
    const s = rho.map((x, j) => sig(tau[j]! * (x - 1)));
    expectClose(responseValues(b, r.tokens.dlogp), rho.map((x, j) => -w[j]! * 4 * s[j]! * (1 - s[j]!) * x * A[j]!), 1e-12, 1e-12, "d loss / d logp");
    expect([r.summary.clip_low, r.summary.clip_high]).toEqual([0, 0]);
  });

  it("on-policy (ratio 1) its gradient is the policy gradient -A, whatever tau", () => {
    const text = withBody("").replace("loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }", "loss sapo { tau_pos 3  tau_neg 7  aggregate token_mean }");
    const p = check(text).pipeline!;
    const b = handBatch([1, 0], [1, 1], { logp: [-1, -2], old: [-1, -2] });
    const out = interpretStage(lowerStage(p, p.stages[0]!), b);
    expectClose(responseValues(b, out.tokens.dlogp), [-0.5 / 2, 0.5 / 2], 1e-15, 1e-15, "dlogp");
  });
});

describe("checking the losses' settings", () => {
  const base = "loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }";
  it.each([
    ["loss gmpo { eps_low 0.4  eps_high 0.4  aggregate token_mean }", "E0402", "`loss gmpo` averages each response's geometric-mean term over the responses; `aggregate token_mean` would weigh them differently"],
    ["loss cispo { eps_high 0.28  dual_clip 3  aggregate token_mean }", "E0203", "unknown setting `dual_clip` in loss cispo"],
    ["loss gmpo { eps_low 0.4  eps_high 0.4  ratio sequence }", "E0203", "unknown setting `ratio` in loss gmpo"],
    ["loss gmpo { eps_high 0.4 }", "E0403", "loss gmpo needs `eps_low`"],
    ["loss cispo { eps_high 0.28 }", "E0403", "loss cispo needs `aggregate`"],
    ["loss cispo { eps_low -1  eps_high 0.28  aggregate token_mean }", "E0401", "`eps_low` must be a number >= 0, found -1"],
    ["loss sapo { eps_high 0.28  aggregate token_mean }", "E0203", "unknown setting `eps_high` in loss sapo"],
    ["loss sapo { tau_neg 0  aggregate token_mean }", "E0401", "`tau_neg` must be a number > 0, found 0"],
    ["loss sappo { eps_high 0.28 }", "E0402", "`sappo` is not a valid `loss`"],
  ])("%s: %s", (loss, code, message) => {
    const r = check(withBody("").replace(base, loss));
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([[code, message]]);
  });

  it("cispo's eps_low defaults to 1 (no lower bound) and gmpo's aggregate to seq_mean_token_mean; --explain writes them", () => {
    const c = check(withBody("").replace(base, "loss cispo { eps_high 0.28  aggregate token_mean }")).pipeline!;
    expect(c.loss).toMatchObject({ kind: "cispo", epsLow: 1, epsHigh: 0.28, dualClip: null, ratio: "token" });
    const g = check(withBody("").replace(base, "loss gmpo { eps_low 0.4  eps_high 0.4 }")).pipeline!;
    expect(g.loss).toMatchObject({ kind: "gmpo", aggregate: "seq_mean_token_mean" });
  });
});
