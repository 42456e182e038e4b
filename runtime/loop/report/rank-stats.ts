// Rank correlation for `acpo attribution-check`: Spearman's ρ (average ranks for ties, so a
// 0/1 truth column is handled), a Fisher-z 95 % interval with the Fieller-Hartley-Pearson
// variance 1.06 / (n - 3) for Spearman's ρ, and a cluster bootstrap interval that resamples
// whole responses: the steps of one response share its prompt and answer, so treating them
// as independent would make the interval too narrow.
import { Rng } from "../../engine/rng.js";

/** 1-based ranks, ties given the mean of the ranks they span. */
export function averageRanks(xs: readonly number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const ranks = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]!] === xs[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return saa === 0 || sbb === 0 ? NaN : sab / Math.sqrt(saa * sbb);
}

/** Spearman's ρ: Pearson's r of the average ranks. NaN when n < 2 or either side is constant. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new RangeError(`spearman: ${x.length} x values but ${y.length} y values`);
  if (x.length < 2) return NaN;
  return pearson(averageRanks(x), averageRanks(y));
}

export interface RhoInterval {
  low: number;
  high: number;
}

const Z975 = 1.959963984540054;

/** 95 % interval for Spearman's ρ by Fisher's z with variance 1.06 / (n - 3); NaN bounds when n <= 3 or ρ is NaN. */
export function fisherInterval(rho: number, n: number): RhoInterval {
  if (!(n > 3) || Number.isNaN(rho)) return { low: NaN, high: NaN };
  const r = Math.max(-0.999999, Math.min(0.999999, rho));
  const z = Math.atanh(r);
  const se = Math.sqrt(1.06 / (n - 3));
  return { low: Math.tanh(z - Z975 * se), high: Math.tanh(z + Z975 * se) };
}

/** The p-quantile of sorted values (linear interpolation between order statistics). */
function quantileSorted(s: readonly number[], p: number): number {
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
}

/**
 * Percentile 95 % interval of Spearman's ρ over `reps` resamples of the clusters (whole
 * responses, with replacement), seeded. Resamples where ρ is undefined (one side constant)
 * are dropped; `used` says how many remained. NaN bounds when fewer than 2 clusters.
 */
export function clusterBootstrap(clusters: readonly { x: number[]; y: number[] }[], reps: number, seed: number): RhoInterval & { used: number } {
  if (clusters.length < 2) return { low: NaN, high: NaN, used: 0 };
  const rng = new Rng(seed);
  const rhos: number[] = [];
  for (let b = 0; b < reps; b++) {
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < clusters.length; i++) {
      const c = clusters[rng.nextU32() % clusters.length]!;
      x.push(...c.x);
      y.push(...c.y);
    }
    const r = spearman(x, y);
    if (!Number.isNaN(r)) rhos.push(r);
  }
  if (rhos.length === 0) return { low: NaN, high: NaN, used: 0 };
  rhos.sort((a, b) => a - b);
  return { low: quantileSorted(rhos, 0.025), high: quantileSorted(rhos, 0.975), used: rhos.length };
}
