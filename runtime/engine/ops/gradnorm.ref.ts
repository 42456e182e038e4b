// Plain-TypeScript reference for gradnorm.ts: the textbook definitions in float64, where
// squares of fp32 values neither overflow nor underflow, so this is the exact norm up to
// float64 rounding. NaN and inf follow from IEEE arithmetic as in torch.
import type { Arr } from "./ref-types.js";

export function gradNormRef(grads: readonly Arr[]): number {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
  return Math.sqrt(sum);
}

/** torch: clip_coef = max_norm / (total_norm + eps); torch.clamp(clip_coef, max=1.0) (NaN stays NaN). */
export function clipCoefficientRef(norm: number, maxNorm: number, eps = 1e-6): number {
  const c = Math.fround(maxNorm) / (norm + Math.fround(eps));
  return Number.isNaN(c) ? NaN : Math.min(1, c);
}

export function scaleGradsRef(grads: readonly Arr[], scale: number): void {
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = g[i]! * scale;
}
