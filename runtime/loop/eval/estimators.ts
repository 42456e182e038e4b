// Evaluation estimators: pass@k and acc@k over sampled responses, and the summary
// statistics `acpo compare` reports across seeds (means, spreads, Student-t intervals).

/** Outcome of n sampled responses to one problem, c of them correct. */
export interface SampleCounts {
  n: number;
  c: number;
}

function checkCounts(n: number, c: number, k?: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(c) || n < 1 || c < 0 || c > n) throw new RangeError(`need integers 0 <= c <= n, n >= 1 (got n=${n}, c=${c})`);
  if (k !== undefined && (!Number.isInteger(k) || k < 1 || k > n)) throw new RangeError(`need an integer 1 <= k <= n (got k=${k}, n=${n})`);
}

/**
 * Unbiased pass@k from n samples with c correct (Chen et al. 2021):
 * 1 - C(n-c, k) / C(n, k), the chance that k of the n samples drawn without replacement
 * include a correct one. Computed as 1 - prod_{i=n-c+1..n} (1 - k/i), which never forms
 * the binomials, so it is stable for any n.
 */
export function passAtK(n: number, c: number, k: number): number {
  checkCounts(n, c, k);
  if (n - c < k) return 1;
  let miss = 1;
  for (let i = n - c + 1; i <= n; i++) miss *= 1 - k / i;
  return 1 - miss;
}

/** Mean of pass@k over problems. */
export function meanPassAtK(results: readonly SampleCounts[], k: number): number {
  return mean(results.map((r) => passAtK(r.n, r.c, k)));
}

/**
 * Acc@k: mean accuracy of k samples per problem, averaged over problems. With n >= k
 * samples c/n is the unbiased estimate of it, so any n is accepted.
 */
export function accAtK(results: readonly SampleCounts[]): number {
  return mean(
    results.map((r) => {
      checkCounts(r.n, r.c);
      return r.c / r.n;
    }),
  );
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("mean of no values");
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (divisor n - 1); NaN for fewer than 2 values. Two-pass for accuracy. */
export function varianceSample(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return s / (xs.length - 1);
}

/** Sample standard deviation (divisor n - 1), the spread of per-seed results; NaN for fewer than 2 values. */
export function stdSample(xs: readonly number[]): number {
  return Math.sqrt(varianceSample(xs));
}

// ---- Student t distribution ----

// Lanczos approximation (g = 7, n = 9), ~1e-15 relative accuracy for x > 0.
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta (modified Lentz), converges for x < (a+1)/(a+b+2). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with `df` > 0 degrees of freedom (df need not be an integer). */
export function tCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`tCdf: df must be > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t (0 < p < 1), by bisection on tCdf. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (tCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

export interface Interval {
  /** The estimate: a mean, or a difference of means. */
  estimate: number;
  low: number;
  high: number;
  /** Standard error of the estimate. */
  se: number;
  /** Degrees of freedom of the t distribution used (Welch-Satterthwaite for unpaired differences). */
  df: number;
  /** Two-sided p-value of estimate = 0. */
  p: number;
  level: number;
}

function tInterval(estimate: number, se: number, df: number, level: number): Interval {
  if (!(level > 0 && level < 1)) throw new RangeError(`confidence level must be in (0, 1), got ${level}`);
  if (!(df > 0) || Number.isNaN(se)) return { estimate, low: NaN, high: NaN, se, df, p: NaN, level };
  // Zero spread: every run agreed; the interval is the point, and any nonzero estimate is certain.
  if (se === 0) return { estimate, low: estimate, high: estimate, se, df, p: estimate === 0 ? 1 : 0, level };
  const h = tQuantile(0.5 + level / 2, df) * se;
  const p = 2 * tCdf(-Math.abs(estimate / se), df);
  return { estimate, low: estimate - h, high: estimate + h, se, df, p, level };
}

/** t-interval for the mean of `xs` (e.g. one method's Acc@8 over seeds). NaN bounds for n < 2. */
export function meanInterval(xs: readonly number[], level = 0.95): Interval {
  const n = xs.length;
  return tInterval(mean(xs), Math.sqrt(varianceSample(xs) / n), n - 1, level);
}

/**
 * t-interval for mean(a) - mean(b). Unpaired: Welch's interval (no equal-variance
 * assumption; df by Welch-Satterthwaite). Paired (`paired: true`, a[i] and b[i] from
 * the same seed): the one-sample interval of the differences, which removes seed-to-seed
 * variation shared by both methods.
 */
export function diffInterval(a: readonly number[], b: readonly number[], opts: { level?: number; paired?: boolean } = {}): Interval {
  const level = opts.level ?? 0.95;
  if (opts.paired) {
    if (a.length !== b.length) throw new RangeError(`paired comparison needs equal lengths (got ${a.length} and ${b.length})`);
    return meanInterval(
      a.map((x, i) => x - b[i]!),
      level,
    );
  }
  const va = varianceSample(a) / a.length;
  const vb = varianceSample(b) / b.length;
  const se = Math.sqrt(va + vb);
  const df = se === 0 ? a.length + b.length - 2 : (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  return tInterval(mean(a) - mean(b), se, df, level);
}
