// The policy update of one optimizer step: old and reference log-probabilities, then for
// each PPO epoch and minibatch: forward, the stage's compiled loss kernels, backward, and
// AdamW — skipped (and counted) when the loss or the gradient norm is not finite.
import { type BatchRow, minibatchSeed, type StageRunner, type Summary } from "../../../compiler/plan/artifact.js";
import type { Gpu } from "../../engine/gpu.js";
import type { Tensor } from "../../engine/tensor.js";
import type { AdamWOptimizer } from "../../engine/model/optimizer.js";
import type { Transformer } from "../../engine/model/transformer.js";
import { buildBatch, type GpuBatch } from "./batch.js";
import { lossHeadOnHidden, policyHidden, targetLogpChunked } from "./loss-head.js";
import type { PhaseProbe } from "./phase-probe.js";
import { type StepBatch, stepBatchOf } from "./step-batch.js";
import type { Trajectory } from "./types.js";

export interface UpdateContext {
  gpu: Gpu;
  model: Transformer;
  optimizer: AdamWOptimizer;
  runner: StageRunner;
  /** The stage's reference policy (null when the stage has none). */
  reference: Transformer | null;
}

export interface UpdateOptions {
  lr: number;
  ppoEpochs: number;
  minibatches: number;
  /** The rollout's log-probs are the policy's own (no truncation): use them as old_logp. */
  rolloutLogpIsPolicy: boolean;
  /**
   * The rollout temperature T. Every log-prob of the update (old, reference, current) and
   * the entropy H are of softmax(logits / T), the distribution the rollout sampled from.
   */
  temperature: number;
  /** `seed`: the step's `rand` seed; each epoch and minibatch draws from minibatchSeed of it. */
  counters: { steps: number; totalSteps: number; seed: number };
  /** Marks the update's phases for a step profile (phase-probe.ts); absent in ordinary runs. */
  probe?: PhaseProbe;
}

export interface UpdateResult {
  /** Summary of the first pass (before any update changed the policy), plus the last grad norm. */
  summary: Summary;
  gradNorm: number;
  updates: number;
  skipped: number;
  /**
   * The first minibatch of the first pass, for samples.jsonl: its trajectories (in batch
   * order) and their rows of the step's CPU batch, the per-token columns of the loss kernels (current logp, H, ...) and the
   * reference log-probs, each (B*T) over target slots. The caller releases `batch`.
   */
  firstPass: { trajs: readonly Trajectory[]; rows: readonly BatchRow[]; batch: GpuBatch; tok: Record<string, Float32Array>; refLogp: Float32Array | null } | null;
}

/** Split trajectories into `m` minibatches of whole prompt groups (group statistics stay intact). */
export function minibatchesOf(trajs: readonly Trajectory[], m: number): Trajectory[][] {
  const groups = [...new Set(trajs.map((t) => t.group))];
  const k = Math.max(1, Math.min(m, groups.length));
  return Array.from({ length: k }, (_, i) => {
    const mine = new Set(groups.filter((_, j) => j % k === i));
    return trajs.filter((t) => mine.has(t.group));
  });
}

export async function policyUpdate(ctx: UpdateContext, of: StepBatch | Trajectory[], o: UpdateOptions): Promise<UpdateResult> {
  const { gpu, model, optimizer, runner } = ctx;
  const V = model.config.vocabSize;
  const all = stepBatchOf(of);
  const groups = minibatchesOf(all.trajs, o.minibatches).map((t) => all.subset(t)); // the step's rows, not derived again
  const parts = groups.map((g) => buildBatch(gpu, g));
  // Old and reference log-probs come from the policy before this step's updates.
  const old = parts.map((b) => (o.rolloutLogpIsPolicy ? gpu.upload(b.rolloutLogp, [b.B * b.T], "old logp") : targetLogpChunked(gpu, model, b, o.temperature, "old logp")));
  const ref = parts.map((b) => (ctx.reference ? targetLogpChunked(gpu, ctx.reference, b, o.temperature, "ref logp") : null));
  // The sampler's own log-probs, for `rollout_logp` (truncated importance sampling).
  const rollout = parts.map((b) => (runner.sk.uses.rollout ? gpu.upload(b.rolloutLogp, [b.B * b.T], "rollout logp") : null));
  let summary: Summary | null = null;
  let gradNorm = NaN, updates = 0, skipped = 0;
  let firstPass: UpdateResult["firstPass"] = null;
  const probe = o.probe;
  await probe?.at("update: batch + old/ref logp");
  try {
    for (let epoch = 0; epoch < o.ppoEpochs; epoch++) {
      for (let i = 0; i < parts.length; i++) {
        const b = parts[i]!;
        model.weights.zeroGrads();
        // Forward, loss kernels and backward with the LM head in row chunks (loss-head.ts lossHeadChunked, in its three parts).
        const hidden = policyHidden(model, b);
        await probe?.at("update: forward");
        const out = lossHeadOnHidden(gpu, model, runner, b, {
          dims: { B: b.B, T: b.T, S: b.S, NG: b.NG, V }, ids: b.targets, tstep: b.tstep,
          oldLogp: old[i]!, refLogp: ref[i] ?? undefined, rolloutLogp: rollout[i] ?? undefined, seq: b.seq, steps: b.steps, temperature: o.temperature,
          counters: { ...o.counters, seed: minibatchSeed(o.counters.seed, epoch, i, parts.length) },
        }, hidden);
        await probe?.at("update: loss head");
        model.backwardHidden(model.hiddenGrad());
        await probe?.at("update: backward");
        optimizer.measureNorm();
        const s = await runner.readSummary(out);
        const norm = (await gpu.read(optimizer.lastNorm))[0]!;
        if (!summary) summary = s;
        if (!firstPass) {
          const r = ref[i];
          firstPass = { trajs: groups[i]!.trajs, rows: groups[i]!.rows, batch: b, tok: await runner.readTokens(out, b.B * b.T), refLogp: r ? await gpu.read(r) : null };
        }
        runner.release(out);
        gradNorm = norm;
        if (Number.isFinite(s.loss) && Number.isFinite(norm)) {
          optimizer.step(o.lr, { normMeasured: true });
          updates++;
        } else {
          skipped++;
        }
        await probe?.at("update: AdamW");
      }
    }
  } finally {
    gpu.release(...old, ...ref, ...rollout);
    for (const b of parts) if (b !== firstPass?.batch) b.release();
  }
  return { summary: summary!, gradNorm, updates, skipped, firstPass };
}
