// What the two schedules of the token sampler share (sample.ts: 64-lane workgroups with
// workgroup-memory reductions; sample-sg.ts: one 8-lane subgroup per row): the RNG, the
// bisection depth, the lane layout both reproduce, and the kernel's interface.
import type { Kernel } from "../kernel.js";

/** Lanes of the reduction tree and of the inverse CDF's vocabulary chunks (the results depend on it). */
export const WG = 64;
/** Bisection steps for the top-k / top-p thresholds: 2^-40 of the probability range. */
export const BISECT = 40;

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
