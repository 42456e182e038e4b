// The compiled GRPO stage (examples/grpo.acpo: statistics, per-level values, the fused
// loss head, summary) against an unfused chain of the same ops (bench/lib/unfused-loss.ts)
// on the same random batch, resident on the GPU: median time and bytes moved. The two are
// compared first; a disagreement beyond fp32 tolerance prints no ratio.
import { loadPipeline } from "../../compiler/index.js";
import { generateStage, type StageKernels } from "../../compiler/codegen/index.js";
import { K_SEQ, K_STP, K_TOK, statsSize } from "../../compiler/codegen/layout.js";
import { packSequences, packSteps, StageRunner, type StageInputs } from "../../compiler/codegen/runner.js";
import { releaseInputs } from "../../compiler/codegen/upload.js";
import { SUMMARY_FIELDS } from "../../compiler/interpret/summary.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { entropyForward } from "../../runtime/engine/ops/entropy.js";
import { logSoftmaxBackward, logSoftmaxForward } from "../../runtime/engine/ops/logprobs.js";
import { Rng } from "../../runtime/engine/rng.js";
import { compareWithFused, grpoChainConfig, UnfusedLossChain, type Traffic } from "../lib/unfused-loss.js";
import { fmt, timeIt, type Timing } from "../lib/timing.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

/** B sequences (groups of 8) x T token slots x vocabulary V. The second is the embedded policy's rollout. */
const SHAPES = [
  { B: 128, T: 256, V: 512 },
  { B: 128, T: 96, V: 108 },
];
const GROUP = 8;

/** A batch like a rollout's: prompt slots, then a response, then padding; old/ref log p near the current one. */
function randomInputs(gpu: Gpu, B: number, T: number, V: number, seed: number): { inp: StageInputs; tstep: Int32Array } {
  const r = new Rng(seed);
  const N = B * T;
  const logits = new Float32Array(N * V);
  for (let i = 0; i < logits.length; i++) logits[i] = 2 * r.normal();
  const ids = new Uint32Array(N), tstep = new Int32Array(N).fill(-1);
  const old = new Float32Array(N), ref = new Float32Array(N);
  const reward = new Float32Array(B), length = new Float32Array(B), group = new Float32Array(B);
  for (let i = 0; i < B; i++) {
    group[i] = Math.floor(i / GROUP);
    reward[i] = r.uniform() < 0.4 ? 1 : 0;
    const start = 4 + r.int(Math.floor(T / 8));
    length[i] = Math.floor(T / 2) + r.int(T - start - Math.floor(T / 2));
    for (let t = start; t < start + length[i]!; t++) tstep[i * T + t] = 0;
  }
  for (let n = 0; n < N; n++) {
    ids[n] = r.int(V);
    let m = -Infinity, s = 0;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v]!);
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v]! - m);
    const logp = logits[n * V + ids[n]!]! - m - Math.log(s);
    // Ratios within a few tenths of 1: both sides of the clip are taken.
    old[n] = logp + 0.15 * r.normal();
    ref[n] = logp + 0.2 * r.normal();
  }
  const inp: StageInputs = {
    dims: { B, T, S: 1, NG: B / GROUP, V },
    logits: gpu.upload(logits, [N, V], "logits"),
    ids: gpu.upload(ids, [N], "ids"),
    tstep: gpu.upload(tstep, [N], "tstep"),
    oldLogp: gpu.upload(old, [N], "old_logp"),
    refLogp: gpu.upload(ref, [N], "ref_logp"),
    seq: gpu.upload(packSequences({ r: reward, correct: reward, length, group, format: reward }), [B, K_SEQ], "seq"),
    steps: gpu.upload(packSteps({ C: new Float32Array(B), length: new Float32Array(B), entropy: new Float32Array(B), reward: new Float32Array(B), mcValue: new Float32Array(B), mcNext: new Float32Array(B), judge: new Float32Array(B) }), [B, K_STP], "steps"), // unused by GRPO
    counters: { steps: 0, totalSteps: 0, seed: seed >>> 0 },
    temperature: 1,
  };
  return { inp, tstep };
}

/**
 * Times each of `runs` in ROUNDS alternating rounds, so a change in the machine's load
 * lands on all of them alike: per run, the median of its round medians and the overall min.
 */
async function interleaved(runs: (() => Promise<void>)[], seconds: number): Promise<Timing[]> {
  const per: Timing[][] = runs.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, run] of runs.entries()) per[i]!.push(await timeIt(run, { warmup: round === 0 ? 2 : 1, minSeconds: seconds / ROUNDS, minReps: 3 }));
  }
  return per.map((ts) => {
    const med = ts.map((t) => t.median).sort((a, b) => a - b);
    return { median: med[Math.floor(med.length / 2)]!, min: Math.min(...ts.map((t) => t.min)), reps: ts.reduce((a, t) => a + t.reps, 0) };
  });
}
const ROUNDS = 3;

/** Bytes the stage's kernels move: every binding's logical size, read if read-only, written if read_write. */
function fusedTraffic(sk: StageKernels, roles: string[], d: StageInputs["dims"]): Traffic {
  const N = d.B * d.T;
  const size: Record<string, number> = {
    logits: N * d.V, ids: N, tstep: N, old_logp: N, ref_logp: N, seqin: d.B * 4, stpin: d.B * d.S * 3,
    pol: N * 2, stats: statsSize(sk.layout, d), tok: N * K_TOK, dlogits: N * d.V, summary: SUMMARY_FIELDS.length,
  };
  const t: Traffic = { dispatches: 0, readBytes: 0, writeBytes: 0 };
  for (const { role, kernel } of sk.kernels) {
    if (!roles.includes(role)) continue;
    t.dispatches++;
    for (const b of kernel.bindings) {
      if (b.access === "read") t.readBytes += size[b.name]! * 4;
      else t.writeBytes += size[b.name]! * 4;
    }
  }
  return t;
}

export const lossHeadSuite: Suite = {
  name: "loss-head",
  description: "compiled GRPO stage with the fused loss head vs an unfused op-by-op chain (128 x 256 x 512, 128 x 96 x 108)",
  async run(ctx: BenchContext): Promise<Table[]> {
    const gpu = await ctx.gpu();
    const seconds = ctx.quick ? 0.3 : 3;
    const p = loadPipeline("examples/grpo.acpo").pipeline!;
    const stage = p.stages[0]!;
    const sk = generateStage(lowerStage(p, stage));
    const cfg = grpoChainConfig(p, stage);
    const roles = sk.kernels.map((k) => k.role).filter((r) => r !== "loss_head_policy");
    const rows: (string | number)[][] = [];
    const notes: string[] = [];
    for (const { B, T, V } of SHAPES) {
      const shape = `${B} x ${T} x ${V}`;
      ctx.log(`loss-head ${shape}: inputs`);
      const { inp, tstep } = randomInputs(gpu, B, T, V, 7);
      const runner = new StageRunner(gpu, sk);
      await runner.compile();
      // The head alone reads the stats the full stage wrote into `out`.
      const head = new StageRunner(gpu, { ...sk, kernels: sk.kernels.filter((k) => k.role === "loss_head") });
      const out = runner.run(inp);
      const chain = new UnfusedLossChain(gpu, cfg, { B, T, V });
      const chained = chain.run(inp);
      const unfusedTraffic = { ...chain.traffic };
      const agreement = await compareWithFused(gpu, runner, out, chained, { B, T, V }, tstep);
      const bad = agreement.filter((a) => !a.ok);
      const worst = Math.max(...agreement.map((a) => a.worst));
      if (bad.length) notes.push(`${shape}: the chain DISAGREES with the fused head (${bad.map((a) => `${a.quantity} ${a.worst.toExponential(1)}x tolerance`).join(", ")}): no ratio printed`);
      else notes.push(`${shape}: unfused and fused agree on all ${agreement.length} quantities, worst at ${worst.toFixed(3)} of the tolerance`);

      ctx.log(`loss-head ${shape}: timing`);
      // The chain's three full-row kernels alone: the part of its work that is not elementwise.
      const N = B * T;
      const ls = gpu.empty([N, V]), dout = gpu.zeros([N, V]), dx = gpu.empty([N, V]), H = gpu.empty([N]);
      const rowKernels = async () => {
        logSoftmaxForward(gpu, ls, inp.logits!, { N, V });
        entropyForward(gpu, H, null, inp.logits!, { N, V });
        logSoftmaxBackward(gpu, dx, dout, ls, { N, V });
        await gpu.sync();
      };
      const rowTraffic: Traffic = { dispatches: 3, readBytes: 4 * N * V * 4, writeBytes: (2 * N * V + N) * 4 };
      const [tStage, tHead, tChain, tRows] = await interleaved([
        async () => { runner.run(inp, out); await gpu.sync(); },
        async () => { head.run(inp, out); await gpu.sync(); },
        async () => { chain.run(inp); await gpu.sync(); },
        rowKernels,
      ], seconds);
      gpu.release(ls, dout, dx, H);
      const entries: [string, Timing, Traffic][] = [
        ["fused stage (all kernels)", tStage!, fusedTraffic(sk, roles, inp.dims)],
        ["fused loss head kernel only", tHead!, fusedTraffic(sk, ["loss_head"], inp.dims)],
        ["unfused chain", tChain!, unfusedTraffic],
        ["  its 3 row kernels alone", tRows!, rowTraffic],
      ];
      for (const [what, t, tr] of entries) {
        const mb = (tr.readBytes + tr.writeBytes) / 1e6;
        rows.push([
          shape, what, tr.dispatches, fmt(t.median * 1e3, 2), fmt(t.min * 1e3, 2), fmt(mb, 1), fmt(mb / 1e3 / t.median, 2),
          bad.length || what.startsWith("  ") ? "-" : what === "unfused chain" ? "1.00x" : `${(tChain!.median / t.median).toFixed(2)}x`,
        ]);
      }
      if (!bad.length) {
        const x = tChain!.median / tStage!.median;
        notes.push(`${shape}: unfused / fused stage = ${x.toFixed(2)}x by median (target >= 3x: ${x >= 3 ? "met" : "NOT met"}), ${(tChain!.min / tStage!.min).toFixed(2)}x by min; bytes unfused / fused stage = ${((unfusedTraffic.readBytes + unfusedTraffic.writeBytes) / (entries[0]![2].readBytes + entries[0]![2].writeBytes)).toFixed(2)}x`);
      }
      chain.release();
      runner.release(out);
      releaseInputs(gpu, inp);
    }
    notes.push(
      "same inputs on both sides: random logits (2 N(0,1)), ids, old/ref log p within ~0.2 of the current one, 16 groups of 8, responses of T/2..T-T/8 tokens after a prompt; pipeline examples/grpo.acpo (k3 KL, clip 0.2, seq_mean_token_mean)",
      "fused stage: every kernel StageRunner.run dispatches (group statistics, per-level values, the fused loss head, summary); 'loss head only': that one kernel, reading the statistics the stage wrote",
      "unfused chain: one kernel per op (group mean/std, advantage, weights; log_softmax, gather, entropy, ratio, clip, min, k3, masking, loss sum; autograd-style backward: min/clamp/exp rules, zeros + scatter of dlogp, log_softmax_backward)",
      "check before timing: logp, H, ratio, kl, token loss, contribution, dlogp (response tokens), loss and dlogits (all) must agree within |d| <= 1e-5 max|fused| + 1e-4 |fused|; otherwise the ratio column is '-'",
      "MB moved: per dispatch, every bound buffer's logical size counted once (read-only bindings as reads, read_write as writes; accumulate also reads); rows read twice inside one kernel (log_softmax, the fused head's two sweeps) count once, as do broadcast reads; GB/s = MB moved / median",
      `times: wall clock per repetition of record + submit + gpu.sync(); the variants alternate in ${ROUNDS} rounds (warm-up runs first), median of the round medians; speed-up = unfused median / this median`,
      "'its 3 row kernels alone': the chain's log_softmax, entropy and log_softmax_backward over (N, V), the floor of its work without the ~40 elementwise kernels",
    );
    return [{ title: "fused loss head vs unfused chain (GRPO stage)", columns: ["B x T x V", "variant", "kernels", "median ms", "min ms", "MB moved", "GB/s", "speed-up"], rows, notes }];
  },
};
