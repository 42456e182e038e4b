// WGSL helpers for the transcendental functions WGSL lacks or computes unsafely, shared by the
// activation kernels (and anyone else: paste the strings into a kernel body).
//
// Why not the builtins: WGSL has no erf, and `tanh` is commonly lowered as
// (e^2x - 1) / (e^2x + 1), which is inf/inf = NaN once e^2x overflows (|x| > ~44). Every helper
// here only ever evaluates exp of a non-positive argument, so nothing overflows: large
// arguments saturate to their limits and NaN inputs give NaN. Float64 references of the same
// functions live in wgsl-math.ref.ts.

/**
 * `mul_lim(a, w)`: a * w, except that w == 0 gives 0 even when a is infinite. For products where
 * w is a weight that decays faster than a grows (x * sigmoid(x) as x -> -inf), so the result is
 * the limit 0 rather than inf * 0 = NaN. A NaN in w still propagates (NaN == 0 is false).
 */
export const WGSL_MUL_LIM = /* wgsl */ `
fn mul_lim(a: f32, w: f32) -> f32 {
  return select(a * w, 0.0, w == 0.0);
}`;

/**
 * `sigmoid2(x)`: vec2(sigmoid(x), 1 - sigmoid(x)), both to a few ulp in relative terms
 * (the complement is computed directly, never as 1 - s, so tails keep their precision).
 */
export const WGSL_SIGMOID = /* wgsl */ `
fn sigmoid2(x: f32) -> vec2<f32> {
  let e = exp(-abs(x));   // in [0, 1]: cannot overflow
  let a = 1.0 / (1.0 + e); // sigmoid(|x|)
  let b = e / (1.0 + e);   // 1 - sigmoid(|x|)
  return select(vec2<f32>(a, b), vec2<f32>(b, a), x < 0.0);
}`;

/**
 * `tanh_safe(x)`: tanh without overflow. |x| < 0.25: odd Taylor series to x^9 (relative error
 * < 1e-8), where (1 - e)/(1 + e) would cancel; otherwise (1 - e)/(1 + e) with e = exp(-2|x|).
 */
export const WGSL_TANH = /* wgsl */ `
fn tanh_safe(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * (-0.053968254 + x2 * 0.021869488))));
  }
  let e = exp(-2.0 * a);
  let r = (1.0 - e) / (1.0 + e);
  return select(r, -r, x < 0.0);
}`;

/**
 * `erfc_f32(x)` and `erf_f32(x)`.
 * erfc: the Chebyshev-fitted form t * exp(-z^2 - 1.26551223 + t * P(t)), t = 1 / (1 + z/2),
 * z = |x| (Numerical Recipes' erfcc, fractional error < 1.2e-7 in exact arithmetic), with z^2
 * split into an exact high part and a small remainder so that fp32 rounding of z^2 does not
 * cost z^2 * 6e-8 of relative accuracy in the tail; erfc(-z) = 2 - erfc(z).
 * erf: Taylor series to x^11 for |x| < 0.5 (keeps relative accuracy near 0, where 1 - erfc
 * would cancel), else sign(x) * (1 - erfc(|x|)). Measured against float64 in
 * test/runtime/activations.test.ts on lavapipe: erf relative error 3e-7 (absolute 1.2e-7);
 * erfc relative error 5e-7 near 0, growing with exp's own error (WGSL allows exp 3 + 2|arg|
 * ulp) to ~6e-6 at x = 8; past x ~ 9.2 erfc is denormal and may flush to 0.
 */
export const WGSL_ERF = /* wgsl */ `
fn erfc_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = 1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
        + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))));
  // z = zh + zl with zh keeping 12 significant bits, so zh * zh is exact in fp32.
  let zh = bitcast<f32>(bitcast<u32>(z) & 0xfffff000u);
  let rest = (z - zh) * (z + zh);
  // Past z = 10 erfc is below the smallest fp32 denormal; the cut also keeps inf - inf out of 'rest'.
  let r = select(t * exp(-zh * zh) * exp(-rest - 1.26551223 + t * p), 0.0, z > 10.0);
  return select(r, 2.0 - r, x < 0.0);
}

fn erf_f32(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    let x2 = x * x;
    let s = 1.0 + x2 * (-0.33333333 + x2 * (0.1 + x2 * (-0.023809524 + x2 * (0.0046296296 + x2 * -0.00075757576))));
    return 1.1283791671 * x * s; // 2/sqrt(pi)
  }
  let r = 1.0 - erfc_f32(abs(x));
  return select(r, -r, x < 0.0);
}`;
