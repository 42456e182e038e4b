// Global L2 norm of a list of gradient tensors, and clipping by it, entirely on the GPU.
//
// Stage 1 (one dispatch per tensor): each workgroup reduces a fixed chunk of GN_CHUNK
// elements to a partial (m, s) with  ||chunk||^2 = m^2 * s,  m = max |g|,  s = sum (|g|/m)^2,
// and writes it to its own slot of a scratch buffer. Stage 2 (one workgroup) merges every
// partial in a fixed order into norm[0] = m * sqrt(s). Fixed partition and fixed trees:
// the same gradients give the same bits. Scaling by the max keeps |g| up to 3.4e38 and down
// to denormals exact-ish where a plain fp32 sum of squares overflows at |g| ~ 1.8e19 and
// underflows below ~1e-19 (the LAPACK nrm2 idea, merged online like a logsumexp).
//
// Non-finite gradients follow torch.nn.utils.clip_grad_norm_ (error_if_nonfinite=False):
// a NaN anywhere makes the norm NaN; otherwise an inf makes it inf. The clip coefficient is
// torch's  clamp(max_norm / (norm + eps), max=1)  with eps = 1e-6, so a NaN norm gives a NaN
// coefficient (every gradient becomes NaN) and an inf norm gives 0 (finite gradients become
// 0, infinite ones NaN). The norm stays in its (1) buffer: a training loop reads it with its
// other metrics and can skip the step when it is not finite.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import { type Tensor, flatView } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;
/**
 * Elements per stage-1 workgroup (256 per lane). Long chunks amortise the tree: on lavapipe
 * 16 per lane ran at 0.20 GB/s, 256 per lane at 0.54 GB/s (12.9M floats).
 */
export const GN_CHUNK = WG * 256;
/** torch.nn.utils.clip_grad_norm_'s eps in max_norm / (norm + eps). */
export const CLIP_EPS = 1e-6;

// WGSL: scaled sum-of-squares state (m, s) and its merge; NaN travels as s = NaN, tested by bits.
const SUMSQ = /* wgsl */ `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn nan_if(bad: bool, x: f32) -> f32 { return select(x, bitcast<f32>(0x7fc00000u | u32(bad)), bad); }
// (si) rescaled from max mi to max m >= mi.
fn rescale(mi: f32, si: f32, m: f32) -> f32 {
  if (mi == m) { return si; } // also m == 0 and m == inf
  let r = mi / m;
  return si * r * r;
}
// Merge (m, s, bad) states.
fn merge(p: vec3<f32>, q: vec3<f32>) -> vec3<f32> {
  let m = max(p.x, q.x);
  return vec3<f32>(m, rescale(p.x, p.y, m) + rescale(q.x, q.y, m), max(p.z, q.z));
}
var<workgroup> red: array<vec3<f32>, ${WG}>;
// Tree-merge every lane's state; lane 0 gets the result in red[0].
fn reduce_wg(lid: u32, st: vec3<f32>) {
  red[lid] = st;
  for (var stride = ${WG / 2}u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = merge(red[lid], red[lid + stride]); }
  }
}
`;

const partialKernel: Kernel = {
  name: "grad_sumsq_partial",
  bindings: [
    { name: "partials", access: "read_write" }, // (P, 2): (m, s) per chunk of every tensor
    { name: "g", access: "read" },
  ],
  uniforms: [{ name: "n", type: "u32" }, { name: "offset", type: "u32" }],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
${SUMSQ}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let chunk = wid.x + wid.y * nwg.x;
  let start = chunk * ${GN_CHUNK}u;
  if (start >= u.n) { return; } // whole workgroup: barriers stay uniform
  let end = min(start + ${GN_CHUNK}u, u.n);
  var m = 0.0;
  var s = 0.0;
  var bad = 0.0;
  for (var i = start + lid; i < end; i += ${WG}u) {
    let x = g[i];
    if (is_nan(x)) { bad = 1.0; continue; }
    let a = abs(x);
    // Divide, not multiply by 1/m: 1/m overflows for subnormal m. a == m also covers inf.
    if (a > m) {
      let r = m / a;
      s = s * r * r + 1.0;
      m = a;
    } else if (a > 0.0) {
      let r = select(a / m, 1.0, a == m);
      s += r * r;
    }
  }
  reduce_wg(lid, vec3<f32>(m, s, bad));
  if (lid == 0u) {
    let r = red[0];
    let j = 2u * (u.offset + chunk);
    partials[j] = r.x;
    partials[j + 1u] = nan_if(r.z > 0.0, r.y);
  }
}`,
};

const finishKernel: Kernel = {
  name: "grad_norm_finish",
  bindings: [
    { name: "norm", access: "read_write" }, // (1)
    { name: "partials", access: "read" }, // (P, 2)
  ],
  uniforms: [{ name: "count", type: "u32" }],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
${SUMSQ}
fn main(@builtin(local_invocation_index) lid: u32) {
  var st = vec3<f32>(0.0, 0.0, 0.0);
  for (var j = lid; j < u.count; j += ${WG}u) {
    let s = partials[2u * j + 1u];
    let bad = select(0.0, 1.0, is_nan(s));
    st = merge(st, vec3<f32>(partials[2u * j], select(s, 0.0, bad > 0.0), bad));
  }
  reduce_wg(lid, st);
  if (lid == 0u) {
    let r = red[0];
    norm[0] = nan_if(r.z > 0.0, r.x * sqrt(r.y));
  }
}`,
};

const coefKernel: Kernel = {
  name: "clip_coefficient",
  bindings: [
    { name: "scale", access: "read_write" }, // (1)
    { name: "norm", access: "read" }, // (1)
  ],
  uniforms: [{ name: "max_norm", type: "f32" }, { name: "eps", type: "f32" }],
  workgroupSize: [1, 1, 1],
  body: /* wgsl */ `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn main() {
  // torch: clip_coef = max_norm / (total_norm + 1e-6); torch.clamp(clip_coef, max=1.0) keeps NaN.
  let c = u.max_norm / (norm[0] + u.eps);
  scale[0] = select(1.0, c, c < 1.0 || is_nan(c));
}`,
};

const scaleKernel: Kernel = {
  name: "grad_scale",
  bindings: [
    { name: "g", access: "read_write" },
    { name: "scale", access: "read" }, // (1)
  ],
  uniforms: [{ name: "n", type: "u32" }],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  g[i] = g[i] * scale[0];
}`,
};

/** Stage-1 partials needed for tensors of these sizes (scratch holds 2 floats per partial). */
export function gradNormPartials(sizes: readonly number[]): number {
  return sizes.reduce((p, n) => p + Math.ceil(n / GN_CHUNK), 0);
}

/**
 * norm (1) = sqrt(sum over tensors of sum g^2). `scratch` (2 * gradNormPartials) is borrowed
 * from the pool when not given. Records only; read `norm` when the loop wants the value.
 */
export function gradNorm(
  gpu: Gpu,
  norm: Tensor, // (1)
  grads: readonly Tensor[], // each (n_i), any sizes
  scratch?: Tensor, // (2 * gradNormPartials(sizes))
): void {
  const parts = bindableParts(gpu, grads);
  const count = gradNormPartials(parts.map((g) => g.size));
  const partials = scratch ?? gpu.empty([Math.max(2 * count, 1)], "gradnorm partials");
  if (partials.size < 2 * count) throw new Error(`gradNorm: scratch holds ${partials.size} floats, needs ${2 * count}`);
  let offset = 0;
  for (const g of parts) {
    const n = g.size;
    if (n === 0) continue;
    gpu.dispatch(partialKernel, [partials, g], { n, offset }, grid1d(n, GN_CHUNK));
    offset += Math.ceil(n / GN_CHUNK);
  }
  gpu.dispatch(finishKernel, [norm, partials], { count }, [1]);
  // Later users of this pooled buffer are recorded after us, so releasing now is safe.
  if (!scratch) gpu.release(partials);
}

/**
 * The tensors as views that each fit one storage binding: a tensor larger than a binding in
 * ranges of whole GN_CHUNKs, so that its partials, and the norm's bits, are those of the
 * unranged sum. Only a binding smaller than one chunk (tests' lowered limits) splits chunks.
 */
function bindableParts(gpu: Gpu, grads: readonly Tensor[]): Tensor[] {
  const quantum = gpu.maxBindingBytes >= 4 * GN_CHUNK ? GN_CHUNK : 1;
  return grads.flatMap((g) => gpu.bindingRanges(g.size, [4], `gradNorm '${g.label}'`, quantum).map(({ start, count }) => flatView(g, start, count)));
}

/** scale (1) = min(1, maxNorm / (norm + eps)), torch's clip coefficient (NaN stays NaN). */
export function clipCoefficient(
  gpu: Gpu,
  scale: Tensor, // (1)
  norm: Tensor, // (1)
  { maxNorm, eps = CLIP_EPS }: { maxNorm: number; eps?: number },
): void {
  gpu.dispatch(coefKernel, [scale, norm], { max_norm: maxNorm, eps }, [1]);
}

/** g *= scale[0] for every tensor, the factor read on the GPU. */
export function scaleGrads(
  gpu: Gpu,
  grads: readonly Tensor[], // each (n_i)
  scale: Tensor, // (1)
): void {
  for (const g of grads) {
    for (const { start, count } of gpu.bindingRanges(g.size, [4], `scaleGrads '${g.label}'`)) {
      gpu.dispatch(scaleKernel, [flatView(g, start, count), scale], { n: count }, grid1d(count, WG));
    }
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: norm, coefficient, and the gradients scaled in place.
 * Returns the norm and the coefficient, both (1), owned by the caller (release them).
 * To fold the scaling into the optimiser instead, call gradNorm + clipCoefficient and pass
 * the coefficient to adamwStep's gradScale.
 */
export function clipGradNorm(
  gpu: Gpu,
  grads: readonly Tensor[], // each (n_i)
  opts: { maxNorm: number; eps?: number },
): { norm: Tensor; scale: Tensor } {
  const norm = gpu.empty([1], "grad norm");
  const scale = gpu.empty([1], "clip coefficient");
  gradNorm(gpu, norm, grads);
  clipCoefficient(gpu, scale, norm, opts);
  scaleGrads(gpu, grads, scale);
  return { norm, scale };
}
