// Plain-TypeScript reference for decode-swiglu.ts.
import { silu } from "./activations.ref.js";
import type { Arr } from "./ref-types.js";

export function decodeSwigluPackedRef(out: Arr /* (N, F) */, gu: Arr /* (N, 2F) */, N: number, F: number): void {
  for (let n = 0; n < N; n++) for (let f = 0; f < F; f++) out[n * F + f] = silu(gu[n * 2 * F + f]!) * gu[n * 2 * F + F + f]!;
}
