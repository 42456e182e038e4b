// Plain-TypeScript references for matmul-f16.ts: the f32 -> f16 rounding every half-precision
// weight goes through, and the matmul whose B operand holds those rounded values.
//
// Rounding (the same in the WGSL cast): IEEE 754 round-to-nearest, ties to even; magnitudes
// from 65520 up (half-way past the largest finite half, 65504) become +-Infinity; f16
// subnormals (below 2^-14, steps of 2^-24) are kept, and magnitudes up to 2^-25 become
// signed zero; NaN stays NaN (quiet); f32 subnormal inputs become signed zero. This is what
// numpy's astype(float16) and torch's .half() do.
import { matmulRef, type MatmulRefArgs } from "./matmul.ref.js";
import type { Arr } from "./ref-types.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The 16 bits of the half nearest to `x` after rounding it to f32 (see the file header). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255) return sign | 0x7c00 | (m !== 0 ? 0x200 | (m >>> 13) : 0);
  const ue = e - 127;
  if (ue > 15) return sign | 0x7c00;
  if (ue >= -14) {
    // Normal: keep 10 of 23 mantissa bits; a carry out of the mantissa raises the exponent (65504 + -> Infinity).
    const h = sign | ((ue + 15) << 10) | (m >>> 13);
    const rest = m & 0x1fff;
    return h + (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1) ? 1 : 0);
  }
  if (ue < -25) return sign;
  // Subnormal: the 24-bit significand scaled to units of 2^-24, i.e. shifted right by -(ue + 1).
  const full = m | 0x800000;
  const shift = -(ue + 1);
  const h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (h + (rest > half || (rest === half && (h & 1) === 1) ? 1 : 0));
}

/** The value of a half given its 16 bits. */
export function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** `x` rounded to the nearest half (as a number). */
export const f16Round = (x: number): number => halfValue(f16Bits(x));

/** The halves of `x`, as bits. */
export function toHalfBits(x: Arr): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f16Bits(x[i]!);
  return out;
}

/** out = alpha * op(A) @ op(half(B)) + beta * out (+ bias): matmulRef with B rounded to f16 first. */
export function matmulF16Ref(out: Arr, a: Arr, b: Arr, args: MatmulRefArgs): void {
  const bh = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) bh[i] = f16Round(b[i]!);
  matmulRef(out, a, bh, args);
}
