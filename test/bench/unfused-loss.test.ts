// The loss-head benchmark's baseline (bench/lib/unfused-loss.ts) computes what the fused
// loss head computes: compared on small irregular batches with the compiled GRPO stage,
// which test/compiler/backend/examples.test.ts checks against the interpreter (and the
// interpreter's gradient against finite differences). Also checks that the comparison
// can fail, so the benchmark's refusal to print a ratio is real.
import { describe, expect, it } from "vitest";
import { compareWithFused, grpoChainConfig, UnfusedLossChain, type ChainConfig } from "../../bench/lib/unfused-loss.js";
import { loadPipeline } from "../../compiler/index.js";
import { generateStage } from "../../compiler/codegen/index.js";
import { StageRunner } from "../../compiler/codegen/runner.js";
import { releaseInputs, uploadBatch } from "../../compiler/codegen/upload.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import type { Pipeline } from "../../compiler/pipeline.js";
import { randomBatch } from "../compiler/backend/random-batch.js";
import { testGpu } from "../helpers/gpu.js";

const grpo = loadPipeline("examples/grpo.acpo").pipeline!;

/** Fused stage and unfused chain on one batch; returns the agreement of every quantity. */
async function both(p: Pipeline, cfg: ChainConfig, seed: number, maskSome: boolean) {
  const gpu = await testGpu();
  const stage = p.stages[0]!;
  const runner = new StageRunner(gpu, generateStage(lowerStage(p, stage)));
  // 3 groups interleaved over 15 responses, 11 slots, V = 37.
  const b = randomBatch({ groups: 3, perGroup: 5, T: 11, V: 37, S: 1 }, seed);
  // Masked vocabulary entries (-inf logits) contribute exactly 0 on both sides.
  if (maskSome) for (let n = 0; n < b.B * b.T; n++) if (n % 4 === 0) b.logits![n * b.V + ((b.ids[n]! + 3) % b.V)] = -Infinity;
  const inp = uploadBatch(gpu, b);
  const fused = runner.run(inp);
  const dims = { B: b.B, T: b.T, V: b.V };
  const chain = new UnfusedLossChain(gpu, cfg, dims);
  const out = chain.run(inp);
  const res = await compareWithFused(gpu, runner, fused, out, dims, b.stepIdx);
  chain.release();
  runner.release(fused);
  releaseInputs(gpu, inp);
  return res;
}

const failures = (res: { quantity: string; worst: number; ok: boolean }[]) => res.filter((r) => !r.ok).map((r) => `${r.quantity}: ${r.worst.toExponential(2)}`);

describe("unfused loss chain vs the fused loss head", () => {
  it("GRPO (k3 KL, seq_mean_token_mean), with masked vocabulary entries", async () => {
    const res = await both(grpo, grpoChainConfig(grpo, grpo.stages[0]!), 3, true);
    expect(res.map((r) => r.quantity)).toEqual(["logp", "H", "ratio", "kl", "token loss", "contribution", "dlogp", "loss", "dlogits"]);
    expect(failures(res)).toEqual([]);
  });

  it("token_mean aggregation, an entropy bonus (entropy backward) and no KL term", async () => {
    const stage = { ...grpo.stages[0]!, kl: null, klEstimators: [], reference: { kind: "none" as const } };
    const p: Pipeline = { ...grpo, stages: [stage], loss: { ...grpo.loss, aggregate: "token_mean", entropyBonus: 0.03, epsHigh: 0.28 } };
    const cfg = grpoChainConfig(p, stage);
    expect(cfg).toMatchObject({ klCoef: 0, entropyBonus: 0.03, aggregate: "token_mean" });
    expect(failures(await both(p, cfg, 5, false))).toEqual([]);
  });

  it("reports a disagreement when the chain computes something else", async () => {
    // Another advantage eps: the advantages, hence every loss term and gradient, move.
    const cfg = { ...grpoChainConfig(grpo, grpo.stages[0]!), advEps: 0.5 };
    const bad = failures(await both(grpo, cfg, 3, false));
    for (const q of ["token loss", "dlogp", "loss", "dlogits"]) expect(bad.some((s) => s.startsWith(q)), q).toBe(true);
    expect(bad.some((s) => s.startsWith("logp") || s.startsWith("H"))).toBe(false);
    const cfg2 = { ...grpoChainConfig(grpo, grpo.stages[0]!), klCoef: 0.05 };
    expect(failures(await both(grpo, cfg2, 4, false)).some((s) => s.startsWith("kl"))).toBe(true);
  });
});
