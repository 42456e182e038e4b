// What the saved-P attention forward defines in att (B, Hq, T, T): the probabilities at keys
// j <= t of every computed query t >= qStart[b]. The rest is unspecified (the subgroup
// schedule leaves it as it was), so tests compare att through this mask.
import type { AttentionSizes } from "../../runtime/engine/ops/attention.js";

/** Whether att entry i (flat, (B, Hq, T, T)) is one the forward defines. */
export function attDefined(i: number, s: AttentionSizes, qStart?: ArrayLike<number>): boolean {
  const j = i % s.T, t = Math.floor(i / s.T) % s.T, b = Math.floor(i / (s.Hq * s.T * s.T));
  return j <= t && t >= (qStart?.[b] ?? 0);
}

/** att with every undefined entry set to 0 (the reference's zeros there). */
export function definedAtt<A extends Float32Array | Float64Array>(att: A, s: AttentionSizes, qStart?: ArrayLike<number>): A {
  return att.map((x, i) => (attDefined(i, s, qStart) ? x : 0)) as A;
}
