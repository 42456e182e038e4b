// Power-law fits for the scaling tables: y ~ c * x^k, k the least-squares slope of
// log y on log x.

/**
 * The exponent k of y ~ c * x^k by least squares on (log x, log y). NaN when fewer than two
 * points have x > 0 and y > 0, or when every x is the same (no slope to fit).
 */
export function logLogSlope(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`logLogSlope: ${xs.length} x values but ${ys.length} y values`);
  const pts = xs.map((x, i) => [x, ys[i]!] as const).filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 2) return NaN;
  const lx = pts.map(([x]) => Math.log(x)), ly = pts.map(([, y]) => Math.log(y));
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length, my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < lx.length; i++) {
    sxy += (lx[i]! - mx) * (ly[i]! - my);
    sxx += (lx[i]! - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : NaN;
}
