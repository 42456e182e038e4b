// Plain-TypeScript reference for decode-rope-append.ts: split the packed qkv rows, rotate
// q and k with rope.ref.ts's formula (angles as HF forms them), write k and v into the
// cache at start[b] + i as appendKVRef does. A position >= maxPos gives NaN (the GPU
// kernel's table ends there).
import type { Arr } from "./ref-types.js";
import { ropeInvFreq } from "./rope.js";

export function decodeRopeAppendRef(
  q: Arr, // (B*Tq, Hq*D)
  kCache: Arr, // (B, Hkv, Tmax, D)
  vCache: Arr, // (B, Hkv, Tmax, D)
  qkv: Arr, // (B*Tq, (Hq + 2 Hkv) * D)
  pos: ArrayLike<number>, // (B*Tq)
  start: ArrayLike<number>, // (B)
  s: { B: number; Tq: number; Hq: number; Hkv: number; D: number; Tmax: number; theta: number; maxPos: number },
): void {
  const { B, Tq, Hq, Hkv, D, Tmax } = s;
  const inv = ropeInvFreq(D, s.theta), half = D / 2, H = Hq + 2 * Hkv;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Tq; t++) {
      const row = b * Tq + t, p = pos[row]!, slot = start[b]! + t;
      for (let hh = 0; hh < H; hh++) {
        const src = (row * H + hh) * D;
        for (let i = 0; i < half; i++) {
          const x1 = qkv[src + i]!, x2 = qkv[src + i + half]!;
          let y1 = x1, y2 = x2;
          if (hh < Hq + Hkv) {
            const angle = Math.fround(p * inv[i]!);
            const c = Math.cos(angle), sn = Math.sin(angle);
            y1 = p < s.maxPos ? x1 * c - x2 * sn : NaN;
            y2 = p < s.maxPos ? x2 * c + x1 * sn : NaN;
          }
          if (hh < Hq) {
            q[(row * Hq + hh) * D + i] = y1;
            q[(row * Hq + hh) * D + i + half] = y2;
            continue;
          }
          if (slot >= Tmax) continue;
          const isK = hh < Hq + Hkv;
          const dst = ((b * Hkv + hh - Hq - (isK ? 0 : Hkv)) * Tmax + slot) * D;
          const cache = isK ? kCache : vCache;
          cache[dst + i] = y1;
          cache[dst + i + half] = y2;
        }
      }
    }
  }
}
