// `rand`: a uniform number in [0, 1) per token, a pure function of a u32 seed and the
// token's flat index, so the interpreter and the kernels draw the same numbers without a
// random buffer. The training loop derives the seed per optimizer step, PPO epoch and
// minibatch (minibatchSeed), so no two loss evaluations of a run reuse the same draws. PCG hash (O'Neill; Jarzynski & Olano, JCGT 2020), 24 bits, exact in f32.
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * The `rand` seed of one loss evaluation: PPO epoch `epoch`, minibatch `index` of
 * `minibatches` in the optimizer step whose seed is `stepSeed`. Every (step, epoch,
 * minibatch) draws its own numbers; the interpreter and the kernels both take this seed.
 */
export function minibatchSeed(stepSeed: number, epoch: number, index: number, minibatches: number): number {
  return pcgHash((stepSeed + pcgHash((epoch * minibatches + index) >>> 0)) >>> 0);
}

export function randAt(seed: number, n: number): number {
  return (pcgHash((n + pcgHash(seed)) >>> 0) >>> 8) / 16777216;
}

/** The same function in WGSL (u32 arithmetic wraps as Math.imul does). */
export const WGSL_RAND = /* wgsl */ `
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn rand_at(seed: u32, n: u32) -> f32 {
  return f32(pcg_hash(n + pcg_hash(seed)) >> 8u) / 16777216.0;
}`;
