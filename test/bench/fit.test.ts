import { describe, expect, it } from "vitest";
import { logLogSlope } from "../../bench/lib/fit.js";

describe("logLogSlope (the scaling suite's exponent)", () => {
  it("recovers the exponent of an exact power law", () => {
    const xs = [32, 64, 128, 256];
    expect(logLogSlope(xs, xs.map((x) => 3 * x ** 1.5))).toBeCloseTo(1.5, 12);
    expect(logLogSlope(xs, xs.map((x) => 0.2 * x ** -0.5))).toBeCloseTo(-0.5, 12);
  });

  it("is the least-squares slope in log-log space for noisy points", () => {
    // log2 x = 0, 1, 2; log2 y = 0, 2, 2 -> slope 1 in any base.
    expect(logLogSlope([1, 2, 4], [1, 4, 4])).toBeCloseTo(1, 12);
  });

  it("ignores non-positive and non-finite points, and gives NaN without two usable points", () => {
    expect(logLogSlope([0, 1, 2, NaN], [5, 1, 2, 3])).toBeCloseTo(1, 12);
    expect(logLogSlope([1], [1])).toBeNaN();
    expect(logLogSlope([2, 2, 2], [1, 2, 3])).toBeNaN();
  });

  it("refuses x and y of different lengths", () => {
    expect(() => logLogSlope([1, 2], [1])).toThrow("logLogSlope: 2 x values but 1 y values");
  });
});
