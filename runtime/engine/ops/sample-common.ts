// What the two schedules of the token sampler share (sample.ts: 64-lane workgroups with
// workgroup-memory reductions; sample-sg.ts: one 8-lane subgroup per row): the RNG, the
// bisection depth, the lane layout both reproduce, and the kernel's interface.
import type { Kernel } from "../kernel.js";

/** Lanes of the reduction tree and of the inverse CDF's vocabulary chunks (the results depend on it). */
export const WG = 64;
/** Bisection steps for the top-k / top-p thresholds: 2^-40 of the probability range. */
const BISECT = 40;

export const WGSL_RNG = /* wgsl */ `
fn pcg_hash(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
// Uniform in [0, 1) with 24 random bits, from (seed, step, row).
fn rng_uniform(seed: u32, step: u32, row: u32) -> f32 {
  let h = pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(row)));
  return f32(h >> 8u) / 16777216.0;
}`;

export const SAMPLE_BINDINGS: Kernel["bindings"] = [
  { name: "out_ids", access: "read_write", type: "u32" },
  { name: "out_logp", access: "read_write" },
  { name: "out_entropy", access: "read_write" },
  { name: "logits", access: "read" },
];

export const SAMPLE_UNIFORMS: Kernel["uniforms"] = [
  { name: "rows", type: "u32" },
  { name: "V", type: "u32" },
  { name: "logits_stride", type: "u32" },
  { name: "inv_temp", type: "f32" },
  { name: "greedy", type: "u32" },
  { name: "top_k", type: "u32" },
  { name: "top_p", type: "f32" },
  { name: "seed", type: "u32" },
  { name: "step", type: "u32" },
  { name: "ids_stride", type: "u32" },
  { name: "ids_col", type: "u32" },
  { name: "stat_stride", type: "u32" },
  { name: "stat_col", type: "u32" },
  { name: "row_offset", type: "u32" },
];

/**
 * WGSL: the top-k then top-p probability threshold t_lo (and the top-k mass kmass) by
 * bisection, shared by both sampling schedules; `lane` is the caller's lane variable, passed
 * to its `kept(base, lane, m, inv_s, t)` (count and mass of the tokens with p >= t).
 */
export const wgslThreshold = (lane: string): string => /* wgsl */ `
    var t_lo = 0.0;
    var kmass = 1.0;
    if (u.top_k > 0u && u.top_k < u.V) {
      var lo = 0.0;
      var hi = inv_s; // the largest probability: exp(0) / s
      for (var i = 0u; i < ${BISECT}u; i++) {
        let mid = 0.5 * (lo + hi);
        if (kept(base, ${lane}, mx, inv_s, mid).x >= f32(u.top_k)) { lo = mid; } else { hi = mid; }
      }
      t_lo = lo;
      kmass = kept(base, ${lane}, mx, inv_s, t_lo).y;
    }
    if (u.top_p < 1.0) {
      var lo = t_lo;
      var hi = inv_s;
      for (var i = 0u; i < ${BISECT}u; i++) {
        let mid = 0.5 * (lo + hi);
        if (kept(base, ${lane}, mx, inv_s, mid).y >= u.top_p * kmass) { lo = mid; } else { hi = mid; }
      }
      t_lo = lo;
    }`;
