// Cumulative and suffix sums along a response (issue 15): `cumsum(x over seq, γ)` and
// `suffix_sum(x over seq, γ)`. REINFORCE++'s returns on a hand-made batch against OpenRLHF's
// formula; a scan carrying gradient (its rule is the other scan) against finite differences,
// the kernels and PyTorch's autograd; step-level scans on random batches with prompt tokens
// and uneven steps; the checker's rules.
import { describe, expect, it } from "vitest";
import { loadPipeline, type Pipeline } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { stageFunction, stagesModule } from "../../../compiler/torch/index.js";
import { expectClose, finiteDiff } from "../../helpers/numeric.js";
import { runTorchJobs, writePackage } from "../../export/torch.js";
import { check, withBody } from "../helpers.js";
import { handBatch, onGpu, responseValues } from "./hand-batch.js";
import { randomBatch } from "./random-batch.js";

function ok(text: string): Pipeline {
  const r = check(text);
  if (!r.pipeline) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.pipeline;
}

/** OpenRLHF's REINFORCE++ return and advantage, transcribed: reward-to-go of the per-token reward, then global whitening. */
function reinforcePP(rewards: number[], lens: number[], old: number[], ref: number[], beta: number, gamma: number): number[] {
  const G: number[] = [];
  let start = 0;
  lens.forEach((n, i) => {
    const rt = Array.from({ length: n }, (_, t) => (t === n - 1 ? rewards[i]! : 0) - beta * (old[start + t]! - ref[start + t]!));
    const ret = new Array<number>(n);
    let acc = 0;
    for (let t = n - 1; t >= 0; t--) ret[t] = acc = rt[t]! + gamma * acc;
    G.push(...ret);
    start += n;
  });
  const mean = G.reduce((s, x) => s + x, 0) / G.length;
  const v = G.reduce((s, x) => s + (x - mean) ** 2, 0) / G.length;
  return G.map((x) => (x - mean) / Math.sqrt(Math.max(v, 1e-8)));
}

describe("REINFORCE++ (examples/reinforce_pp.acpo)", () => {
  const old = [-1, -0.5, -2, -0.3, -0.8];
  const ref = [-1.2, -0.5, -1.5, -0.6, -0.8];
  const lens = [3, 2];

  it.each([[1], [0.9]])("gamma %s: the advantage is OpenRLHF's whitened reward-to-go, in the interpreter and the kernels", async (gamma) => {
    const p = loadPipeline("examples/reinforce_pp.acpo").pipeline!;
    const b = handBatch([1, 0], lens, { logp: old, old, ref });
    const r = await onGpu(p, b, `reinforce++ gamma ${gamma}`, { beta: 0.01, gamma });
    const want = reinforcePP([1, 0], lens, old, ref, 0.01, gamma);
    expectClose(responseValues(b, r.tokens.advantage), want, 1e-12, 1e-12, "advantage");
    // On-policy (ratio 1): each token's gradient is -A / N (token_mean, no clipping at ratio 1).
    expectClose(responseValues(b, r.tokens.dlogp), want.map((a) => -a / 5), 1e-12, 1e-12, "d loss / d logp");
  });

  it("the return is the discounted sum to the response's end (by hand, gamma 0.5)", () => {
    const p = loadPipeline("examples/reinforce_pp.acpo", { set: ["gamma=0.5", "beta=0"] }).pipeline!;
    const b = handBatch([1, 0], lens, { logp: old, old, ref });
    const prog = lowerStage(p, p.stages[0]!);
    const r = interpretStage(prog, b);
    const G = r.values[prog.named.find((x) => x.name === "G_t")!.node]!;
    // Response 0 (reward 1 at its last token): 0.25, 0.5, 1; response 1: 0, 0.
    expect(responseValues(b, G)).toEqual([0.25, 0.5, 1, 0, 0]);
  });
});

describe("a scan carrying gradient", () => {
  // kl = 0.1 * suffix_sum(k1 over seq, 0.9): d/d logp_k = 0.1 * sum over t <= k of 0.9^(k-t) a_t, the prefix scan of the adjoint.
  const text = withBody("").replace("{ kl 0 }", "{ reference initial  kl 0.1 * suffix_sum(k1 over seq, 0.9) + 0.05 * cumsum(H over seq) }");

  it("matches finite differences (interpreter) and the kernels, with logits", async () => {
    const p = ok(text);
    const b = randomBatch({ groups: 2, perGroup: 3, T: 7, V: 5, S: 2 }, 31);
    const r = await onGpu(p, b, "scan with gradient");
    const prog = lowerStage(p, p.stages[0]!);
    const fd = finiteDiff(() => interpretStage(prog, b, { frozen: interpretStage(prog, b).values }).loss, b.logits!, 1e-6);
    expectClose(r.dlogits!, fd, 1e-7, 1e-5, "dlogits vs finite differences");
  });

  it("matches PyTorch's autograd through the generated recurrence", () => {
    const p = ok(text);
    const prog = lowerStage(p, p.stages[0]!);
    const b = randomBatch({ groups: 2, perGroup: 3, T: 7, V: 5, S: 2, logits: false }, 32);
    const pkg = writePackage("acpo_scan", { scan: stagesModule([prog], "scan test") });
    const [got] = runTorchJobs(pkg, [{ module: "scan", fn: stageFunction(prog).name, batch: b, params: {} }]);
    const ref = interpretStage(prog, b);
    const valid = (xs: ArrayLike<number>) => Array.from(xs).filter((_, n) => b.stepIdx[n]! >= 0);
    expectClose([got!.outputs.loss![0]!], [ref.loss], 1e-10, 1e-10, "loss");
    expectClose(valid(got!.grad!.logp), valid(ref.tokens.dlogp), 1e-10, 1e-10, "autograd d loss / d logp");
    expectClose(valid(got!.grad!.H), valid(ref.tokens.dH), 1e-10, 1e-10, "autograd d loss / d H");
  });
});

describe("a step-level scan", () => {
  it("runs over the response's used steps, in the interpreter and the kernels", async () => {
    const text = withBody("  segment fixed { length 3 }\n  let S_t = cumsum(step_length over seq, 0.5)\n  let R_t = suffix_sum(step_length over seq)\n", { advantage: false })
      .replace("  stage train", "  advantage = r + 0.1 * S_t - 0.01 * R_t\n  stage train");
    const p = ok(text);
    const b: Batch = randomBatch({ groups: 2, perGroup: 3, T: 12, V: 5, S: 4 }, 41);
    const r = await onGpu(p, b, "step scans");
    const S = r.named.find((x) => x.name === "S_t")!.values;
    const R = r.named.find((x) => x.name === "R_t")!.values;
    for (let i = 0; i < b.B; i++) {
      const used = Array.from({ length: b.S }, (_, s) => i * b.S + s).filter((j) => b.stepLength[j]! > 0);
      let acc = 0;
      for (const j of used) { acc = 0.5 * acc + b.stepLength[j]!; expect(S[j]).toBeCloseTo(acc, 12); }
      acc = 0;
      for (const j of [...used].reverse()) { acc += b.stepLength[j]!; expect(R[j]).toBeCloseTo(acc, 12); }
    }
  });
});

describe("checking scans", () => {
  it.each([
    ["cumsum(r over seq)", "E0208", "`cumsum` runs along a response's tokens or steps, but its argument is a sequence-level value"],
    ["cumsum(H over group)", "E0208", "`cumsum` runs along a response: write cumsum(x over seq)"],
    ["suffix_sum(H)", "E0208", "`suffix_sum` runs along a response and needs `over seq`: suffix_sum(x over seq)"],
    ["suffix_sum(H over seq, 1.5)", "E0401", "`gamma` of `suffix_sum` must be in [0, 1], found 1.5"],
    ["suffix_sum(H over seq, H)", "E0301", "`gamma` of `suffix_sum` must be a scalar, found a token-level value"],
  ])("%s: %s", (expr, code, message) => {
    const r = check(withBody(`  let x = ${expr}\n`));
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([[code, message]]);
  });

  it("a scan keeps its argument's level", () => {
    const p = ok(withBody("  let a = cumsum(H over seq, 0.9)\n"));
    expect(p.lets.find((l) => l.name === "a")!.expr.level).toBe("token");
  });
});
