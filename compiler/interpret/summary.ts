// Batch diagnostics of a stage, for the training loop's metrics and for replay. Means are
// over the tokens in the loss (response tokens whose stage mask holds): NaN when there are
// none. `loss` is the aggregated loss; `tokens` counts the tokens in it. Two KL figures:
// `kl`, the mean raw estimator (k1/k2/k3 vs the reference) over all response tokens, as
// TRL's `kl`; `kl_loss`, the KL term's part of `loss` (the `kl` expression, coefficient
// included, aggregated by the stage's rule and mask). The GPU summary
// kernel (codegen/summary.ts) writes the same fields in this order.
import type { Batch } from "./batch.js";

export const SUMMARY_FIELDS = [
  "loss", "tokens", "clip_low", "clip_high", "dual_clip",
  "ratio_mean", "ratio_min", "ratio_max", "kl", "kl_loss", "entropy_mean",
  "adv_mean", "adv_std", "adv_min", "adv_max", "weight_mean", "logp_mean",
] as const;
export type Summary = Record<(typeof SUMMARY_FIELDS)[number], number>;

interface TokenCols {
  mask: Float64Array; clipLow: Float64Array; clipHigh: Float64Array; dual: Float64Array; ratio: Float64Array;
  kl: Float64Array; klEstimate: Float64Array; klLoss: Float64Array; H: Float64Array; advantage: Float64Array; weight: Float64Array; logp: Float64Array;
}

export function summarize(t: TokenCols, b: Batch, loss: number): Summary {
  const idx: number[] = [];
  for (let n = 0; n < b.B * b.T; n++) if (b.stepIdx[n]! >= 0 && t.mask[n] !== 0) idx.push(n);
  const k = idx.length;
  const mean = (a: Float64Array) => idx.reduce((s, n) => s + a[n]!, 0) / k;
  const ext = (a: Float64Array, f: (x: number, y: number) => number) => (k === 0 ? NaN : idx.reduce((s, n) => f(s, a[n]!), f === Math.min ? Infinity : -Infinity));
  const resp: number[] = [];
  for (let n = 0; n < b.B * b.T; n++) if (b.stepIdx[n]! >= 0) resp.push(n);
  const advMean = mean(t.advantage);
  return {
    loss,
    tokens: k,
    clip_low: mean(t.clipLow),
    clip_high: mean(t.clipHigh),
    dual_clip: mean(t.dual),
    ratio_mean: mean(t.ratio),
    ratio_min: ext(t.ratio, Math.min),
    ratio_max: ext(t.ratio, Math.max),
    kl: resp.reduce((s, n) => s + t.klEstimate[n]!, 0) / resp.length,
    kl_loss: resp.reduce((s, n) => s + t.klLoss[n]!, 0),
    entropy_mean: mean(t.H),
    adv_mean: advMean,
    adv_std: Math.sqrt(idx.reduce((s, n) => s + (t.advantage[n]! - advMean) ** 2, 0) / k),
    adv_min: ext(t.advantage, Math.min),
    adv_max: ext(t.advantage, Math.max),
    weight_mean: mean(t.weight),
    logp_mean: mean(t.logp),
  };
}
