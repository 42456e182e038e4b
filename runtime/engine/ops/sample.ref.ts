// Plain-TypeScript reference for sample.ts: the same thresholds, lane chunking and RNG,
// in f32 arithmetic (Math.fround) so that ids agree except at rounding boundaries.
import type { Arr } from "./ref-types.js";

const WG = 64;
const BISECT = 40;
const f = Math.fround;

function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The sampler's uniform in [0, 1) for (seed, step, row). */
export function rngUniform(seed: number, step: number, row: number): number {
  const h = pcgHash((seed ^ pcgHash((step ^ pcgHash(row)) >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

export interface SampleRefOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  step: number;
}

/** One row: the chosen id, its log-probability and the entropy, as the kernel computes them. */
export function sampleRowRef(logits: Arr, o: SampleRefOptions, row: number): { id: number; logp: number; entropy: number } {
  const V = logits.length;
  const greedy = o.temperature === 0;
  const invT = greedy ? 1 : f(1 / o.temperature);
  const z = Array.from(logits, (x) => f(x * invT));
  let mx = -3.4028235e38;
  let argmax = V - 1;
  z.forEach((v, i) => { if (v > mx) { mx = v; argmax = i; } });
  let s = 0, sz = 0;
  for (const v of z) { const d = v - mx; const e = Math.exp(d); s += e; sz += e === 0 ? 0 : e * d; }
  const invS = 1 / s;
  const lse = mx + Math.log(s);
  const entropy = Math.log(s) - sz * invS;
  const p = z.map((v) => Math.exp(v - mx) * invS);
  let id = argmax;
  if (!greedy) {
    const kept = (t: number) => { let c = 0, m = 0; for (const q of p) if (q >= t) { c++; m += q; } return [c, m] as const; };
    let tLo = 0, kmass = 1;
    const topK = o.topK ?? 0, topP = o.topP ?? 1;
    if (topK > 0 && topK < V) {
      let lo = 0, hi = invS;
      for (let i = 0; i < BISECT; i++) { const mid = f(0.5 * (lo + hi)); if (kept(mid)[0] >= topK) lo = mid; else hi = mid; }
      tLo = lo;
      kmass = kept(tLo)[1];
    }
    if (topP < 1) {
      let lo = tLo, hi = invS;
      for (let i = 0; i < BISECT; i++) { const mid = f(0.5 * (lo + hi)); if (kept(mid)[1] >= topP * kmass) lo = mid; else hi = mid; }
      tLo = lo;
    }
    const chunk = Math.ceil(V / WG);
    let total = 0;
    const prefix: number[] = [];
    for (let lane = 0; lane < WG; lane++) {
      prefix.push(total);
      for (let v = Math.min(lane * chunk, V); v < Math.min(lane * chunk + chunk, V); v++) if (p[v]! >= tLo) total += p[v]!;
    }
    const target = rngUniform(o.seed, o.step, row) * total;
    id = -1;
    let last = -1;
    for (let lane = 0; lane < WG && id < 0; lane++) {
      let acc = prefix[lane]!;
      for (let v = Math.min(lane * chunk, V); v < Math.min(lane * chunk + chunk, V); v++) {
        if (p[v]! >= tLo) { acc += p[v]!; last = v; if (acc > target) { id = v; break; } }
      }
    }
    if (id < 0) id = last >= 0 ? last : argmax;
  }
  return { id, logp: z[id]! - lse, entropy };
}
