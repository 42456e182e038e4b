// Token sampling on the GPU: one workgroup per row of logits picks the next token with
// temperature, top-k and top-p, from a counter-based RNG, and writes only the chosen id
// (plus its log-probability and the entropy of its distribution) — the logits never leave
// the GPU. The id is written straight into the caller's token buffer so the next decoding
// step can embed it without a CPU round trip.
//
// Semantics (mirrored exactly by sample.ref.ts):
// - z = logits / temperature; p = softmax(z). logp and entropy are of this distribution,
//   before truncation: they are what the policy assigns at the rollout temperature.
// - top-k then top-p, as Hugging Face applies its warpers: keep the k most probable tokens,
//   then the smallest most-probable subset of those whose mass reaches top_p of the kept
//   mass. Thresholds are found by bisection on probability, so tokens tied at the
//   threshold are all kept (HF breaks such ties by sort order; ties of exactly equal
//   probability are rare and the difference is documented here rather than hidden).
// - u = rng(seed, step, row) in [0,1) (row counted from the batch's first, rowOffset + local row); the token is the first index (in vocabulary order)
//   at which the cumulative kept mass exceeds u * kept mass.
// - temperature 0 means greedy: the most probable token, lowest index on ties.
// The results depend on the 64-lane layout (summation order, vocabulary chunks); the
// subgroup schedule (sample-sg.ts) reproduces it bit for bit on CPU rasterisers.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { hasSubgroups8 } from "./matmul.js";
import { SAMPLE_BINDINGS, SAMPLE_UNIFORMS, WG, WGSL_RNG, wgslThreshold } from "./sample-common.js";
import { sampleSgKernel } from "./sample-sg.js";
import { WGSL_ROW_INDEX, rowGrid } from "./wgsl-reduce.js";

const sampleKernel: Kernel = {
  name: "sample_tokens",
  bindings: SAMPLE_BINDINGS,
  uniforms: SAMPLE_UNIFORMS,
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
${WGSL_RNG}
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> scan: array<f32, ${WG}>;
var<workgroup> pick: atomic<u32>;

fn wg_max(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn wg_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// Number of tokens (as f32) and their mass among p >= t, where p = exp(z - m) / s.
fn kept(base: u32, lid: u32, m: f32, inv_s: f32, t: f32) -> vec2<f32> {
  var c = 0.0;
  var mass = 0.0;
  for (var v = lid; v < u.V; v += ${WG}u) {
    let p = exp(logits[base + v] * u.inv_temp - m) * inv_s;
    if (p >= t) { c += 1.0; mass += p; }
  }
  return vec2<f32>(wg_sum(lid, c), wg_sum(lid, mass));
}

fn main(@builtin(local_invocation_id) lidv: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lid = lidv.x;
  let row = ${WGSL_ROW_INDEX};
  if (row >= u.rows) { return; } // uniform per workgroup: barriers below stay uniform
  let base = row * u.logits_stride;

  // Max and argmax (lowest index on ties) of z.
  var m = bitcast<f32>(0xff7fffffu); // -FLT_MAX
  var arg = 0xffffffffu;
  for (var v = lid; v < u.V; v += ${WG}u) {
    let z = logits[base + v] * u.inv_temp;
    if (z > m) { m = z; arg = v; }
  }
  let mx = wg_max(lid, m);
  red[lid] = select(f32(0xffffffffu), f32(arg), m == mx);
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = min(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let argmax = min(u32(red[0]), u.V - 1u); // all-NaN or all -inf rows fall back to the last id
  workgroupBarrier();

  // Softmax normaliser and entropy: H = log s - sum(e * (z - m)) / s.
  var se = 0.0;
  var sez = 0.0;
  for (var v = lid; v < u.V; v += ${WG}u) {
    let d = logits[base + v] * u.inv_temp - mx;
    let e = exp(d);
    se += e;
    sez += select(e * d, 0.0, e == 0.0); // p log p -> 0 as p -> 0 (d = -inf gives 0 * inf)
  }
  let s = wg_sum(lid, se);
  let sz = wg_sum(lid, sez);
  let inv_s = 1.0 / s;
  let lse = mx + log(s);
  let entropy = log(s) - sz * inv_s;

  var chosen = argmax;
  if (u.greedy == 0u) {
    // Threshold on p: the largest t keeping at least top_k tokens, then the largest t
    // (>= that) keeping at least top_p of the top-k mass. Bisection keeps the invariant
    // that 'lo' satisfies the constraint.
    ${wgslThreshold("lid")}
    // Inverse CDF in vocabulary order: each lane owns a contiguous chunk, so an exclusive
    // scan of chunk masses orders the lanes; the lane whose interval holds the goal scans it.
    let chunk = (u.V + ${WG}u - 1u) / ${WG}u;
    let v0 = min(lid * chunk, u.V);
    let v1 = min(v0 + chunk, u.V);
    var cm = 0.0;
    for (var v = v0; v < v1; v++) {
      let p = exp(logits[base + v] * u.inv_temp - mx) * inv_s;
      if (p >= t_lo) { cm += p; }
    }
    scan[lid] = cm;
    if (lid == 0u) { atomicStore(&pick, 0xffffffffu); }
    workgroupBarrier();
    if (lid == 0u) {
      var acc = 0.0;
      for (var i = 0u; i < ${WG}u; i++) { let c = scan[i]; scan[i] = acc; acc += c; }
      red[0] = acc;
    }
    workgroupBarrier();
    let total = red[0];
    let goal = rng_uniform(u.seed, u.step, row + u.row_offset) * total;
    var acc = scan[lid];
    var last = 0xffffffffu;
    for (var v = v0; v < v1; v++) {
      let p = exp(logits[base + v] * u.inv_temp - mx) * inv_s;
      if (p >= t_lo) {
        acc += p;
        last = v;
        if (acc > goal) { atomicMin(&pick, v); break; }
      }
    }
    workgroupBarrier(); // every lane's atomicMin is done
    red[lid] = select(-1.0, f32(last), last != 0xffffffffu);
    workgroupBarrier();
    if (lid == 0u) {
      chosen = atomicLoad(&pick);
      if (chosen == 0xffffffffu) {
        // Rounding left goal >= the summed mass: take the last kept token.
        var lastKept = -1.0;
        for (var i = 0u; i < ${WG}u; i++) { lastKept = max(lastKept, red[i]); }
        chosen = select(argmax, u32(lastKept), lastKept >= 0.0);
      }
    }
  }
  if (lid == 0u) {
    out_ids[row * u.ids_stride + u.ids_col] = chosen;
    out_logp[row * u.stat_stride + u.stat_col] = logits[base + chosen] * u.inv_temp - lse;
    out_entropy[row * u.stat_stride + u.stat_col] = entropy;
  }
}`,
};

/**
 * "workgroup": one 64-lane workgroup per row, reductions in workgroup memory (GPUs);
 * "subgroup": one 8-lane subgroup per row, the same arithmetic in the same order
 * (sample-sg.ts; CPU rasterisers with subgroups of >= 8 lanes). Both give the same bits.
 */
export type SampleSchedule = "workgroup" | "subgroup";

/** The schedule for this adapter. */
export function sampleSchedule(gpu: Gpu): SampleSchedule {
  return gpu.info.isSoftware && hasSubgroups8(gpu) ? "subgroup" : "workgroup";
}

export interface SampleOptions {
  rows: number;
  V: number;
  /** Elements between consecutive rows of `logits` (default V). */
  logitsStride?: number;
  /** 0 means greedy. */
  temperature: number;
  /** 0 or >= V disables top-k. */
  topK?: number;
  /** 1 disables top-p. */
  topP?: number;
  seed: number;
  /** Decoding step: with `seed` and the row it selects the random number. */
  step: number;
  /** Where row r's id goes: outIds[r * idsStride + idsCol] (default: outIds[r]). */
  idsStride?: number;
  idsCol?: number;
  /** Where row r's logp and entropy go: out[r * statStride + statCol]. */
  statStride?: number;
  statCol?: number;
  /**
   * These rows are rows rowOffset.. of the batch (a chunk of a large-vocabulary head): the
   * random number of local row r is rng(seed, step, rowOffset + r), so chunking changes no draw.
   */
  rowOffset?: number;
  /** Default: sampleSchedule(gpu); tests and benchmarks force one. */
  schedule?: SampleSchedule;
}

/** Sample one token per row of logits; see the file comment for the exact semantics. */
export function sampleTokens(
  gpu: Gpu,
  outIds: Tensor, // u32, indexed by idsStride/idsCol, e.g. (B, Tmax) generated tokens
  outLogp: Tensor, // indexed by statStride/statCol, e.g. (B, Tmax)
  outEntropy: Tensor, // same layout as outLogp
  logits: Tensor, // (rows, logitsStride)
  o: SampleOptions,
): void {
  if (!(o.temperature >= 0)) throw new Error(`sampleTokens: temperature must be >= 0, got ${o.temperature}`);
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`sampleTokens: top_p must be in (0, 1], got ${topP}`);
  const greedy = o.temperature === 0;
  const subgroup = (o.schedule ?? sampleSchedule(gpu)) === "subgroup";
  if (subgroup && !hasSubgroups8(gpu)) throw new Error("sampleTokens: the subgroup schedule needs subgroups of >= 8 lanes");
  gpu.dispatch(
    subgroup ? sampleSgKernel : sampleKernel,
    [outIds, outLogp, outEntropy, logits],
    {
      rows: o.rows,
      V: o.V,
      logits_stride: o.logitsStride ?? o.V,
      inv_temp: greedy ? 1 : 1 / o.temperature,
      greedy: greedy ? 1 : 0,
      top_k: o.topK ?? 0,
      top_p: topP,
      seed: o.seed >>> 0,
      step: o.step >>> 0,
      ids_stride: o.idsStride ?? 1,
      ids_col: o.idsCol ?? 0,
      stat_stride: o.statStride ?? 1,
      stat_col: o.statCol ?? 0,
      row_offset: o.rowOffset ?? 0,
    },
    rowGrid(o.rows),
  );
}
