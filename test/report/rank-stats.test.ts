// Spearman's ρ, its Fisher-z interval and the cluster bootstrap of attribution-check,
// against values computed by hand.
import { describe, expect, it } from "vitest";
import { averageRanks, clusterBootstrap, fisherInterval, spearman } from "../../runtime/loop/report/rank-stats.js";

describe("Spearman's ρ", () => {
  it("ranks ties by their mean rank", () => {
    expect(averageRanks([5, 6, 7, 8, 7])).toEqual([1, 2, 3.5, 5, 3.5]);
    expect(averageRanks([0, 1, 0, 1])).toEqual([1.5, 3.5, 1.5, 3.5]);
  });

  it("is Pearson's r of the ranks: 8 / sqrt(95) for x = 1..5, y = 5 6 7 8 7", () => {
    // ranks of y: 1 2 3.5 5 3.5; deviations (-2 -1 0 1 2) and (-2 -1 .5 2 .5): 8 / sqrt(10 * 9.5)
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 12);
  });

  it("against a 0/1 truth: C = .5 -1 2 .1, truth 1 0 1 0 gives 4 / sqrt(20)", () => {
    expect(spearman([0.5, -1, 2, 0.1], [1, 0, 1, 0])).toBeCloseTo(4 / Math.sqrt(20), 12);
  });

  it("is 1 / -1 for monotone data and NaN when a side is constant or n < 2", () => {
    expect(spearman([1, 2, 3], [10, 20, 300])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(spearman([1, 2, 3], [1, 1, 1])).toBeNaN();
    expect(spearman([1], [2])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow("spearman: 2 x values but 1 y values");
  });
});

describe("intervals", () => {
  it("Fisher z with variance 1.06 / (n - 3): ρ = 0.5, n = 28 gives [0.1447, 0.7411]", () => {
    const i = fisherInterval(0.5, 28);
    expect(i.low).toBeCloseTo(0.14470202144464853, 12);
    expect(i.high).toBeCloseTo(0.7410874615592804, 12);
    expect(fisherInterval(0.5, 3)).toEqual({ low: NaN, high: NaN });
    expect(fisherInterval(NaN, 30)).toEqual({ low: NaN, high: NaN });
  });

  it("the cluster bootstrap is seeded, brackets ρ, and collapses when every cluster is the same", () => {
    const clusters = Array.from({ length: 30 }, (_, i) => ({ x: [i % 7, (i * 3) % 5, i % 2], y: [1, 0, i % 3 === 0 ? 1 : 0] }));
    const a = clusterBootstrap(clusters, 300, 5);
    expect(clusterBootstrap(clusters, 300, 5)).toEqual(a);
    const rho = spearman(clusters.flatMap((c) => c.x), clusters.flatMap((c) => c.y));
    expect(a.low).toBeLessThan(rho);
    expect(a.high).toBeGreaterThan(rho);
    expect(a.used).toBe(300);
    const same = Array.from({ length: 5 }, () => ({ x: [1, 2, 3], y: [0, 1, 1] }));
    const s = clusterBootstrap(same, 50, 1);
    const r = spearman([1, 2, 3], [0, 1, 1]);
    expect(s.low).toBeCloseTo(r, 12);
    expect(s.high).toBeCloseTo(r, 12);
    expect(clusterBootstrap(same.slice(0, 1), 50, 1)).toEqual({ low: NaN, high: NaN, used: 0 });
  });
});
