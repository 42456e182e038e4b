// Monte-Carlo step values (issue 15, VinePPO): the step-level `mc_value` / `mc_next`
// built-ins; examples/vineppo.acpo's advantage V(s_{k+1}) - V(s_k) and examples/acpo_mc.acpo's
// attribution-shaped variant on hand-made batches against the formulas, in the interpreter
// and the kernels; recorded batches (mc_value per step, mc_next derived); the checker's rules.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { BatchError, readBatchFile } from "../../../compiler/plan/batch-file.js";
import { replay } from "../../../compiler/plan/replay.js";
import { ExportRefused, planExport } from "../../../export/verl/index.js";
import { expectClose } from "../../helpers/numeric.js";
import { check, withBody } from "../helpers.js";
import { onGpu, responseValues } from "./hand-batch.js";

interface Resp {
  reward: number;
  /** Tokens per step. */
  steps: number[];
  /** Monte-Carlo value of each step's start. */
  V: number[];
  C?: number[];
  /** Per-token entropy (the rollout's; step_entropy is its mean over the step). */
  H?: number[];
}

/** One group of responses with steps, Monte-Carlo values (mc_next derived as the runtime does), C and entropies; on-policy. */
function mcBatch(rs: Resp[]): Batch {
  const B = rs.length;
  const lens = rs.map((r) => r.steps.reduce((a, x) => a + x, 0));
  const T = Math.max(...lens), S = Math.max(...rs.map((r) => r.steps.length)), N = B * T;
  const stepIdx = new Int32Array(N).fill(-1);
  const f = () => new Float64Array(B * S);
  const stepLength = f(), mcValue = f(), mcNext = f(), C = f(), stepEntropy = f();
  const H = new Float64Array(N), logp = new Float64Array(N).fill(-1);
  rs.forEach((r, i) => {
    let t = 0;
    r.steps.forEach((len, k) => {
      const j = i * S + k;
      stepLength[j] = len;
      mcValue[j] = r.V[k]!;
      mcNext[j] = k + 1 < r.steps.length ? r.V[k + 1]! : r.reward;
      C[j] = r.C?.[k] ?? 0;
      let h = 0;
      for (let u = 0; u < len; u++, t++) {
        stepIdx[i * T + t] = k;
        H[i * T + t] = r.H?.[t] ?? 0;
        h += H[i * T + t]!;
      }
      stepEntropy[j] = h / len;
    });
  });
  return {
    B, T, S, nGroups: 1, group: new Int32Array(B), reward: Float64Array.from(rs, (r) => r.reward), correct: Float64Array.from(rs, (r) => +(r.reward > 0)),
    format: new Float64Array(B).fill(1), length: Float64Array.from(lens), stepIdx, ids: new Int32Array(N), oldLogp: logp.slice(), refLogp: logp.slice(),
    C, stepLength, stepEntropy, mcValue, mcNext, V: 0, temperature: 1, logits: null, logp, H, steps: 0, totalSteps: 0, seed: 0,
  };
}

/** Per-token values of a per-step function, in response order. */
const perToken = (rs: Resp[], f: (r: Resp, k: number) => number) => rs.flatMap((r) => r.steps.flatMap((len, k) => new Array<number>(len).fill(f(r, k))));
const next = (r: Resp, k: number) => (k + 1 < r.steps.length ? r.V[k + 1]! : r.reward);

describe("examples/vineppo.acpo", () => {
  // K = 4 continuations per prefix: values are multiples of 1/4.
  const rs: Resp[] = [
    { reward: 1, steps: [2, 3, 1], V: [0.5, 0.75, 1] }, // each step helped; the answer kept it
    { reward: 0, steps: [2, 2], V: [0.5, 0.25] }, //       the second step lost the rest
    { reward: 0, steps: [3], V: [0.25] }, //               one step
  ];

  it("advantage per step = V(s_{k+1}) - V(s_k), V after the last step = r; on-policy gradient -A_t / N", async () => {
    const p = loadPipeline("examples/vineppo.acpo").pipeline!;
    const b = mcBatch(rs);
    const r = await onGpu(p, b, "vineppo");
    const want = perToken(rs, (x, k) => next(x, k) - x.V[k]!);
    expect(want).toEqual([0.25, 0.25, 0.25, 0.25, 0.25, 0, -0.25, -0.25, -0.25, -0.25, -0.25, -0.25, -0.25]);
    expectClose(responseValues(b, r.tokens.advantage), want, 1e-12, 1e-12, "advantage");
    expectClose(responseValues(b, r.tokens.dlogp), want.map((a) => -a / want.length), 1e-12, 1e-12, "d loss / d logp");
  });
});

describe("examples/acpo_mc.acpo", () => {
  it("A_final = A_mc + alpha A_mc Cn w(step_entropy, Cn, A_mc), A_mc = mc_next - mc_value, in both stages", async () => {
    const p = loadPipeline("examples/acpo_mc.acpo").pipeline!;
    const rs: Resp[] = [
      { reward: 1, steps: [2, 2, 1], V: [0.5, 0.5, 0.75], C: [2, 1, 0.5], H: [0.2, 0.4, 1.5, 1.7, 0.1] },
      { reward: 0, steps: [3, 1], V: [0.5, 0.25], C: [-0.5, 1], H: [0.3, 0.3, 0.3, 2] },
    ];
    const [alpha, beta, gamma, theta, eps] = ["alpha", "beta", "gamma", "theta", "eps"].map((n) => p.params.find((q) => q.name === n)!.value) as [number, number, number, number, number];
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const want = perToken(rs, (x, k) => {
      const A = next(x, k) - x.V[k]!;
      const Cn = x.C![k]! / (x.C!.reduce((s, c) => s + Math.abs(c), 0) + eps);
      const start = x.steps.slice(0, k).reduce((s, n) => s + n, 0);
      const Hs = x.H!.slice(start, start + x.steps[k]!);
      const stepH = Hs.reduce((s, h) => s + h, 0) / Hs.length;
      const w = A > 0 && Cn > theta && stepH > median(x.H!) ? 1 + beta * stepH : 1 - gamma;
      return A + alpha * A * Cn * w;
    });
    for (const stage of p.stages) {
      const q = { ...p, stages: [stage] };
      const b = mcBatch(rs);
      const r = await onGpu(q, b, `acpo_mc ${stage.name}`);
      expectClose(responseValues(b, r.tokens.advantage), want, 1e-12, 1e-12, `advantage (${stage.name})`);
    }
    // The first response: step 1 is helpful (A_mc 0.25), important (Cn = 1/3.5 > theta) and uncertain (entropy 1.6 above
    // the median 0.4): w = 1 + beta H; step 2 is helpful and important but certain (0.1): w = 1 - gamma; step 0 has A_mc 0.
    expect(want.slice(0, 5)).toEqual([0, 0, 0.25 + alpha * 0.25 * (1 / (3.5 + eps)) * (1 + beta * 1.6), 0.25 + alpha * 0.25 * (1 / (3.5 + eps)) * (1 + beta * 1.6), 0.25 + alpha * 0.25 * (0.5 / (3.5 + eps)) * (1 - gamma)].map((x) => expect.closeTo(x, 12)));
  });
});

describe("Monte-Carlo values in recorded batches", () => {
  it("mc_value per step; mc_next is the next step's value and the reward after the last; replay refuses a batch without it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-mc-"));
    const line = (reward: number, extra: object) => JSON.stringify({ group: 0, reward, tokens: [1, 2, 3], old_logp: [-1, -1, -1], logp: [-1, -1, -1], entropy: [1, 1, 1], step_starts: [0, 2], ...extra });
    const f = join(dir, "samples.jsonl");
    writeFileSync(f, [line(1, { mc_value: [0.5, 0.75] }), line(0, { mc_value: [0.5, 0.25] })].join("\n") + "\n");
    const file = readBatchFile(f);
    expect(file.has.mc).toBe(true);
    expect(Array.from(file.batch.mcValue!)).toEqual([0.5, 0.75, 0.5, 0.25]);
    expect(Array.from(file.batch.mcNext!)).toEqual([0.75, 1, 0.25, 0]);
    const p = loadPipeline("examples/vineppo.acpo").pipeline!;
    const r = await replay(p, undefined, file, f);
    expect(r).toBeDefined();
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, line(0, { mc_value: [0.5, 0.5, 0.5] }) + "\n");
    expect(() => readBatchFile(bad)).toThrow(`${bad}:1.mc_value: expected 2 numbers (one per step), found 3`);
    const none = join(dir, "none.jsonl");
    writeFileSync(none, [line(1, { mc_value: [1, 1] }), line(0, {})].join("\n") + "\n");
    const nf = readBatchFile(none);
    expect(nf.has.mc).toBe(false);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(BatchError);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(`${none}: the pipeline uses Monte-Carlo step values (mc_value, mc_next); every trajectory needs 'mc_value' (one per step)`);
  });
});

describe("checker and export: mc_value, mc_next", () => {
  it.each([
    ["without segment", "rollout { prompts 4  group 4  temperature 1.0  max_tokens 16  mc_rollouts 2 }", "", "add e.g. segment newline { min_gap 1 }"],
    ["without mc_rollouts", "rollout { prompts 4  group 4  temperature 1.0  max_tokens 16 }", "  segment newline { min_gap 1 }\n", "add e.g. mc_rollouts 4 to the rollout block"],
  ])("%s: E0404 at the name, with a hint", (_what, rollout, segment, hint) => {
    const text = withBody(`${segment}  let s = mc_next - mc_value`).replace(/rollout \{[^}]*\}/, rollout);
    const d = check(text).diagnostics.filter((x) => x.code === "E0404");
    expect(d.map((x) => x.message)).toEqual(["`mc_next` is a Monte-Carlo step value; it needs `segment` and `mc_rollouts` in `rollout`", "`mc_value` is a Monte-Carlo step value; it needs `segment` and `mc_rollouts` in `rollout`"]);
    expect(d[0]!.hint).toBe(hint);
  });

  it("mc_rollouts is an integer in [1, 64], printed back only when written", () => {
    const r = check(withBody("").replace(/max_tokens 16 \}/, "max_tokens 16  mc_rollouts 0 }"));
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([["E0401", expect.stringContaining("mc_rollouts")]]);
    expect(loadPipeline("examples/vineppo.acpo").pipeline!.rollout.mcRollouts).toBe(4);
    expect(loadPipeline("examples/grpo.acpo").pipeline!.rollout).not.toHaveProperty("mcRollouts");
  });

  it.each(["vineppo", "acpo_mc"])("acpo export verl refuses examples/%s.acpo with the reason", (name) => {
    let reasons: string[] = [];
    try {
      planExport(loadPipeline(`examples/${name}.acpo`).pipeline!);
    } catch (e) {
      if (!(e instanceof ExportRefused)) throw e;
      reasons = e.reasons;
    }
    expect(reasons).toContain("the advantage reads `mc_value`: Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample");
  });
});
