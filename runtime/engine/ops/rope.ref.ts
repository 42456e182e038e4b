// Plain-TypeScript reference for rope.ts: HF rotate_half rotary embedding, angles formed
// as in HF (fp32 inv_freq, fp32 product pos * inv_freq), cos/sin evaluated directly.
import type { Arr } from "./ref-types.js";
import { ropeInvFreq } from "./rope.js";

function rotate(out: Arr, x: Arr, pos: ArrayLike<number>, B: number, T: number, H: number, D: number, theta: number, sgn: number): void {
  const inv = ropeInvFreq(D, theta);
  const half = D / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = pos[b * T + t]!;
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const angle = Math.fround(p * inv[i]!);
          const c = Math.cos(angle);
          const s = sgn * Math.sin(angle);
          const x1 = x[base + i]!;
          const x2 = x[base + i + half]!;
          out[base + i] = x1 * c - x2 * s;
          out[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
}

/** out (B, T, H, D) = rope(x (B, T, H, D)) at positions pos (B*T). */
export function ropeForwardRef(out: Arr, x: Arr, pos: ArrayLike<number>, B: number, T: number, H: number, D: number, theta: number): void {
  rotate(out, x, pos, B, T, H, D, theta, 1);
}

/** dx = inverse rotation of dout. */
export function ropeBackwardRef(dx: Arr, dout: Arr, pos: ArrayLike<number>, B: number, T: number, H: number, D: number, theta: number): void {
  rotate(dx, dout, pos, B, T, H, D, theta, -1);
}
