// Supervised next-token loss (warm start / SFT): loss = -mean over masked positions of
// log p(target), its gradient with respect to the logits, and the model's backward.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { headRowGrad, headRowStats, LmHeadStream } from "./lm-head.js";
import { nextTokenSlots, type PaddedRows, paddedRows } from "./padded-batch.js";
import type { Transformer } from "./transformer.js";

/** A next-token batch (padded-batch.ts) and which targets count toward the loss. */
export interface LmBatch extends PaddedRows {
  mask: Float32Array; // (B, T) 1 where the target counts toward the loss
}

/** Build a batch from token sequences; `lossFrom[b]` is the first input position whose target counts. */
export function lmBatch(seqs: number[][], lossFrom: number[]): LmBatch {
  const rows = paddedRows(seqs, nextTokenSlots(seqs));
  const { T } = rows;
  const mask = new Float32Array(rows.B * T);
  seqs.forEach((s, b) => {
    for (let t = 0; t < T; t++) mask[b * T + t] = t + 1 < s.length && t >= lossFrom[b]! ? 1 : 0;
  });
  return { ...rows, mask };
}

/**
 * Record forward, loss and backward for one batch (gradients are added to the model's
 * weights.grads). Returns the per-position log-probabilities (B*T) and the loss weights
 * so the caller can compute the loss on the CPU after one readback.
 */
export function lmLossStep(gpu: Gpu, model: Transformer, batch: LmBatch, logitsBudget?: number): { logp: Tensor; release: () => void } {
  const { B, T } = batch, N = B * T;
  const count = batch.mask.reduce((a, b) => a + b, 0);
  if (count === 0) throw new Error("lmLossStep: the batch has no target positions");
  const ids = gpu.upload(batch.ids, [N], "lm ids");
  const targets = gpu.upload(batch.targets, [N], "lm targets");
  const pos = gpu.upload(batch.pos, [N], "lm pos");
  const dlogpHost = Float32Array.from(batch.mask, (m) => -m / count); // d(-mean logp)/d logp
  const dlogp = gpu.upload(dlogpHost, [N], "lm dlogp");
  const logp = gpu.empty([N], "lm logp"), lse = gpu.empty([N], "lm lse");
  // The LM head a chunk of rows at a time: N x V logits never exist (lm-head.ts).
  const hidden = model.forwardHidden(ids, pos, B, T);
  const head = new LmHeadStream(gpu, model, N, logitsBudget);
  headRowStats(gpu, head, hidden, targets, { logp, lse });
  const dhidden = model.hiddenGrad();
  headRowGrad(gpu, head, hidden, dhidden, targets, { dlogp, dH: null, lse, H: null });
  model.backwardHidden(dhidden);
  head.release();
  return { logp, release: () => gpu.release(ids, targets, pos, dlogp, logp, lse) };
}

/** -mean of logp over the mask. */
export function maskedNll(logp: Float32Array, mask: Float32Array): number {
  let s = 0, n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]! > 0) { s -= logp[i]!; n++; }
  return s / n;
}
