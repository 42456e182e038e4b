import { describe, expect, it } from "vitest";
import { accAtK, diffInterval, mean, meanInterval, meanPassAtK, passAtK, stdSample, tCdf, tQuantile, varianceSample } from "../../runtime/loop/eval/estimators.js";

/** Fraction of k-subsets of n samples (the first c correct) that contain a correct one. */
function bruteForcePass(n: number, c: number, k: number): number {
  let hit = 0;
  let total = 0;
  for (let mask = 0; mask < 1 << n; mask++) {
    let bits = 0;
    for (let i = 0; i < n; i++) if (mask & (1 << i)) bits++;
    if (bits !== k) continue;
    total++;
    if (mask & ((1 << c) - 1)) hit++;
  }
  return hit / total;
}

function binom(n: bigint, k: bigint): bigint {
  let r = 1n;
  for (let i = 1n; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

describe("pass@k", () => {
  it("matches brute-force enumeration of k-subsets for every n <= 10", () => {
    for (let n = 1; n <= 10; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) expect(Math.abs(passAtK(n, c, k) - bruteForcePass(n, c, k)), `n=${n} c=${c} k=${k}`).toBeLessThan(1e-12);
      }
    }
  });

  it("stays exact for large n where the binomials overflow doubles", () => {
    for (const [n, c, k] of [[1000, 3, 100], [2000, 500, 64], [5000, 1, 4999]] as const) {
      const miss = binom(BigInt(n - c), BigInt(k));
      const all = binom(BigInt(n), BigInt(k));
      const exact = 1 - Number((miss * 10n ** 30n) / all) / 1e30;
      expect(Math.abs(passAtK(n, c, k) - exact), `${n},${c},${k}`).toBeLessThan(1e-12);
    }
  });

  it("has the obvious special cases and rejects nonsense", () => {
    expect(passAtK(8, 0, 8)).toBe(0);
    expect(passAtK(8, 8, 1)).toBe(1);
    expect(passAtK(8, 3, 1)).toBeCloseTo(3 / 8, 15);
    expect(passAtK(8, 3, 6)).toBe(1); // only 5 wrong: any 6 include a correct one
    expect(() => passAtK(8, 9, 1)).toThrow(/0 <= c <= n/);
    expect(() => passAtK(8, 2, 9)).toThrow(/1 <= k <= n/);
    expect(() => passAtK(8, 2, 0)).toThrow(/1 <= k <= n/);
    expect(() => passAtK(8, 1.5, 2)).toThrow(RangeError);
    expect(meanPassAtK([{ n: 8, c: 0 }, { n: 8, c: 8 }], 8)).toBe(0.5);
  });
});

describe("acc@k and moments", () => {
  it("acc@k is the mean per-problem accuracy", () => {
    expect(accAtK([{ n: 8, c: 2 }, { n: 8, c: 8 }, { n: 4, c: 0 }])).toBeCloseTo((0.25 + 1 + 0) / 3, 15);
    expect(() => accAtK([])).toThrow(/mean of no values/);
  });
  it("mean, sample variance and std", () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(varianceSample([1, 2, 3, 4])).toBeCloseTo(5 / 3, 15);
    expect(stdSample([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 14);
    expect(varianceSample([3])).toBeNaN();
    // Two-pass variance keeps precision around a large offset.
    expect(varianceSample([1e9 + 1, 1e9 + 2, 1e9 + 3])).toBeCloseTo(1, 9);
  });
});

describe("Student t", () => {
  // Reference values from scipy.stats.t (scipy 1.x).
  it("quantiles match scipy", () => {
    const cases: [number, number, number][] = [
      [0.975, 1, 12.706204736174694],
      [0.975, 2, 4.302652729749462],
      [0.975, 5, 2.5705818356363146],
      [0.975, 10, 2.228138851986274],
      [0.975, 30, 2.0422724563012378],
      [0.975, 1e6, 1.959966356814107],
      [0.995, 4, 4.604094871349992],
      [0.975, 3.7, 2.8675207071911895],
    ];
    for (const [p, df, want] of cases) expect(Math.abs(tQuantile(p, df) - want), `p=${p} df=${df}`).toBeLessThan(1e-9 * want);
    expect(tQuantile(0.025, 5)).toBeCloseTo(-2.5705818356363146, 9);
    expect(tQuantile(0.5, 3)).toBe(0);
  });
  it("cdf matches scipy and is symmetric", () => {
    expect(tCdf(-1.3, 2.5)).toBeCloseTo(0.15024339463535416, 12);
    expect(tCdf(0, 7)).toBe(0.5);
    expect(tCdf(1.3, 2.5) + tCdf(-1.3, 2.5)).toBeCloseTo(1, 14);
    expect(tCdf(Infinity, 3)).toBe(1);
    expect(tCdf(-Infinity, 3)).toBe(0);
    expect(() => tCdf(1, 0)).toThrow(/df must be > 0/);
  });
});

describe("confidence intervals across seeds", () => {
  const a = [0.61, 0.58, 0.66];
  const b = [0.52, 0.55, 0.5];
  it("mean interval matches scipy.stats.t.interval", () => {
    const r = meanInterval(a);
    expect(r.low).toBeCloseTo(0.5162714363058458, 12);
    expect(r.high).toBeCloseTo(0.7170618970274876, 12);
    expect(r.df).toBe(2);
  });
  it("Welch difference matches scipy ttest_ind(equal_var=False)", () => {
    const r = diffInterval(a, b);
    expect(r.estimate).toBeCloseTo(0.09333333333333338, 12);
    expect(r.df).toBeCloseTo(3.3482983345401878, 12);
    expect(r.low).toBeCloseTo(0.010785407656951296, 10);
    expect(r.high).toBeCloseTo(0.17588125900971546, 10);
    expect(r.p).toBeCloseTo(0.036045556840442715, 10);
  });
  it("paired difference matches scipy ttest_rel", () => {
    const r = diffInterval(a, b, { paired: true });
    expect(r.df).toBe(2);
    expect(r.low).toBeCloseTo(-0.06829477908417515, 10);
    expect(r.high).toBeCloseTo(0.2549614457508418, 10);
    expect(r.p).toBeCloseTo(0.13092080265811903, 10);
    expect(() => diffInterval([1, 2], [1], { paired: true })).toThrow(/equal lengths/);
  });
  it("degenerate inputs: one seed gives NaN bounds, zero spread gives a point", () => {
    const one = meanInterval([0.5]);
    expect(one.estimate).toBe(0.5);
    expect(one.low).toBeNaN();
    const flat = diffInterval([0.5, 0.5], [0.25, 0.25]);
    expect([flat.low, flat.high, flat.p]).toEqual([0.25, 0.25, 0]);
    expect(() => meanInterval([1, 2], 1.5)).toThrow(/level/);
  });
});
