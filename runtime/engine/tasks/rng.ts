// Seeded randomness and hashing for problem generators. Everything a task produces is a
// pure function of its options and a seed, so runs and test sets are reproducible.
import type { Split } from "./types.js";

/** Mulberry32: a tiny, fast, well-mixed 32-bit generator; plenty for sampling problems. */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError("Rng.pick: empty list");
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** Fisher-Yates shuffle of a copy. */
  shuffled<T>(xs: readonly T[]): T[] {
    const out = xs.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/** 32-bit FNV-1a over UTF-16 code units, then the murmur3 finaliser so nearby strings spread out. */
export function hash32(s: string, salt = 0): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Seed for a sub-stream, e.g. mixSeed(seed, "test") so train and test draws are independent. */
export function mixSeed(seed: number, tag: string): number {
  return hash32(tag, seed >>> 0);
}

// Fixed salt: the split of a problem must never depend on the run's seed, or a test
// problem of one run could be a training problem of another.
const SPLIT_SALT = 0x5eed5911;

/**
 * The split a problem belongs to, from its canonical key alone: "test" for a fraction
 * `testFraction` of the key space, "train" for the rest. Two generators that agree on
 * the key therefore agree on the split, which is what makes train and test disjoint.
 */
export function splitOf(key: string, testFraction: number): Split {
  return hash32(key, SPLIT_SALT) / 4294967296 < testFraction ? "test" : "train";
}
