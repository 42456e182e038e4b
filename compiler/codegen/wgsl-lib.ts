// WGSL helpers shared by the generated stage kernels: IEEE-faithful versions of the ops
// whose WGSL builtins differ from the interpreter (pow of a negative base, min/max with
// NaN, tanh overflow), run-time special values (a NaN or inf literal is a WGSL error), the
// unit lookups of the batch layout, and the ordered-key map used by quantile selection.
import { WGSL_TANH } from "../../runtime/engine/ops/wgsl-math.js";
import { WGSL_RAND } from "../interpret/rand.js";
import { seqRead } from "./layout.js";

export const WGSL_LIB = /* wgsl */ `
// Special values built at run time from a zero uniform, so no compiler folds them away.
fn f32_bits(b: u32) -> f32 { return bitcast<f32>(b | u.zero); }
fn nan_f() -> f32 { return f32_bits(0x7fc00000u); }
fn inf_f() -> f32 { return f32_bits(0x7f800000u); }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
// a^b as in IEEE pow / JavaScript: negative bases with integer exponents keep their sign.
fn pow_s(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return nan_f(); }
  if (a >= 0.0) { return pow(a, b); }
  if (b != floor(b)) { return nan_f(); }
  let m = pow(-a, b);
  return select(m, -m, (b - 2.0 * floor(b * 0.5)) != 0.0);
}
fn min_s(a: f32, b: f32) -> f32 { return select(min(a, b), nan_f(), is_nan(a) || is_nan(b)); }
fn max_s(a: f32, b: f32) -> f32 { return select(max(a, b), nan_f(), is_nan(a) || is_nan(b)); }
fn sigmoid_s(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }
${WGSL_TANH}
${WGSL_RAND}
// Order-preserving u32 key of a float; NaN sorts last (the interpreter's order).
fn fkey(x: f32) -> u32 {
  if (is_nan(x)) { return 0xffffffffu; }
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn fkey_inv(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}
`;

/** Group of response b (needs the seqin binding). */
export const WGSL_GROUP_OF = /* wgsl */ `
fn group_of(b: u32) -> u32 { return u32(${seqRead("b", "group")}); }`;

/** Token position in its response: response tokens before it in its row. */
export const WGSL_POSITION = /* wgsl */ `
fn position_of(n: u32) -> f32 {
  let b = n / u.T;
  var k = 0u;
  for (var i = b * u.T; i < n; i++) { k += u32(tstep[i] >= 0); }
  return f32(k);
}`;

/** f32 literal of a number; non-finite values become run-time helpers. */
export function f32Literal(v: number): string {
  const f = Math.fround(v);
  if (Number.isNaN(f)) return "nan_f()";
  if (f === Infinity) return "inf_f()";
  if (f === -Infinity) return "(-inf_f())";
  if (Object.is(f, -0)) return "(-0.0f)";
  const s = String(f);
  return f < 0 ? `(${s}f)` : `${s}f`;
}
