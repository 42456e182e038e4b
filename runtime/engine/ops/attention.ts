// Causal multi-head attention with grouped-query heads, forward and backward, fp32.
// Layouts are what HF's q/k/v projections produce, so no permutes are needed:
//   q, out, dq, dout: (B, T, Hq, D)   k, v, dk, dv: (B, T, Hkv, D)   att, datt: (B, Hq, T, T)
// Query head h reads kv head h / (Hq / Hkv), as HF's repeat_kv does. Scale 1/sqrt(D).
//
// What forward saves: the probabilities att (B, Hq, T, T), as llm.c does, not a per-row
// logsumexp with recomputation (flash style). Per (row t, key j <= t) the saved-P backward
// costs 4*D flops (dp = dout.v, dq += ds*k, dv += p*dout, dk += ds*q); the logsumexp
// backward must also recompute s = q.k in both the query-side and key-side passes and dp in
// the key-side pass: 7*D flops. On lavapipe attention is compute-bound (a few GFLOP/s
// against ~10 GB/s of memory), so storing P costs ~12 bytes of traffic per entry (~1 ns)
// where recomputing costs ~3*D = 192 flops at D = 64 (~40 ns). At the issue's largest size
// (B 128, Hq 8, T 160) att is 105 MB per layer: affordable in host memory, which is where
// lavapipe's "GPU" memory lives. Only the lower triangle of att is defined (the subgroup
// schedule writes nothing above it, nor at rows skipped by a query offset). Where att
// would not fit one storage binding (one 2,048-token sequence at 14 heads: 224 MiB),
// attention-mode.ts runs attention-recompute.ts instead, which keeps the logsumexp.
//
// Backward runs two kernels, both deterministic (fixed summation order, no atomics):
//   1. per query row (lanes = rows, like forward): dp_j = dout_t . v_j into datt, delta =
//      sum_j p_j dp_j, then ds_j = scale * p_j (dp_j - delta) into datt and dq = sum_j ds_j k_j;
//   2. per key row (lanes = keys j of one kv head): dv_j and dk_j summed over the G query
//      heads sharing the kv head and over t >= j; the dout_t and q_t loads are uniform.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { DQ_SKIP, FORWARD_SKIP, backwardKvSgKernel, backwardQuerySgKernel, forwardSgKernel } from "./attention-sg.js";
import { LOWEST, QSTART_BINDING, type QueryOffset, TILE, TILE_PARAMS, maskedLoop, tileBounds } from "./attention-tile.js";
import { hasSubgroups8 } from "./matmul.js";

export interface AttentionSizes {
  B: number;
  T: number;
  Hq: number; // query heads
  Hkv: number; // key/value heads; Hq % Hkv == 0
  D: number; // head dim, a multiple of 4
}

/**
 * "lane": every lane loads each key/value row itself (GPUs, where uniform loads are cheap);
 * "subgroup": 8-lane groups share key/value loads through subgroup broadcasts
 * (attention-sg.ts; CPU rasterisers with subgroups of >= 8 lanes).
 */
export type AttentionSchedule = "lane" | "subgroup";

/** The schedule for this adapter. */
export function attentionSchedule(gpu: Gpu): AttentionSchedule {
  return gpu.info.isSoftware && hasSubgroups8(gpu) ? "subgroup" : "lane";
}

const UNIFORMS: Kernel["uniforms"] = [
  { name: "T", type: "u32" },
  { name: "Hq", type: "u32" },
  { name: "Hkv", type: "u32" },
  { name: "scale", type: "f32" },
];

/** WGSL: dot product of private vec4 row `a` with rows of `buf` starting at vec4 index `at`. */
const dotRow = (a: string, buf: string, at: string): string =>
  `var s = 0.0;
    for (var d = 0u; d < D4; d++) { s += dot(${a}[d], ${buf}[${at} + d]); }`;

/** WGSL prelude of the per-query-row kernels: tile bounds and this lane's row. */
const rowPrelude = /* wgsl */ `
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  ${tileBounds("u.T", "G * u.T")}
  let r = r0 + lid;
  if (r >= G * u.T) { return; }
  let t = r % u.T;
  let h = kvh * G + r / u.T;
  let rowQ = ((b * u.T + t) * u.Hq + h) * D4; // vec4 index of q/out row (b, t, h)
  let kv0 = (b * u.T * u.Hkv + kvh) * D4; // vec4 index of k/v row (b, 0, kvh)
  let kvStride = u.Hkv * D4; // between consecutive tokens
  let pRow = ((b * u.Hq + h) * u.T + t) * u.T; // att row (b, h, t)`;

/** rowPrelude, and in the offset variant a lane below its row's qStart zeroing its outputs and returning (no subgroups here). */
const lanePrelude = (o?: QueryOffset): string =>
  o
    ? `${rowPrelude}
  if (t < qStart[b]) {
    ${o.zero}
    return;
  }`
    : rowPrelude;

const withOffset = (bindings: Kernel["bindings"], offset: boolean): Kernel["bindings"] => (offset ? [...bindings, QSTART_BINDING] : bindings);

const memo = new Map<string, Kernel>();
function memoKernel(key: string, make: () => Kernel): Kernel {
  let k = memo.get(key);
  if (!k) memo.set(key, (k = make()));
  return k;
}

function forwardKernel(D: number, offset: boolean): Kernel {
  return memoKernel(`fwd${D}${offset ? "o" : ""}`, () => ({
    name: `attention_forward_d${D}${offset ? "_qoffset" : ""}`,
    bindings: withOffset([
      { name: "out", access: "read_write", type: "vec4<f32>" },
      { name: "att", access: "read_write" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${TILE_PARAMS}) {
  ${lanePrelude(offset ? FORWARD_SKIP : undefined)}
  var qr: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { qr[d] = q[rowQ + d]; }
  // Pass 1: scores into att, running max. Future keys (j > t) are computed but not kept.
  var m = ${LOWEST};
  for (var j = 0u; j <= iMax; j++) {
    ${dotRow("qr", "k", "kv0 + j * kvStride")}
    if (j <= t) {
      let sc = s * u.scale;
      att[pRow + j] = sc;
      m = max(m, sc);
    }
  }
  // Pass 2: unnormalised probabilities, their sum, and the weighted sum of values.
  var o: array<vec4<f32>, D4>;
  var l = 0.0;
  ${maskedLoop("j", "0u", "iMax", "j <= t", (valid) => /* wgsl */ `
    var p = 0.0;
    if (${valid}) {
      p = exp(att[pRow + j] - m);
      att[pRow + j] = p;
      l += p;
    }
    let vj = kv0 + j * kvStride;
    for (var d = 0u; d < D4; d++) {
      o[d] = select(o[d], o[d] + p * v[vj + d], ${valid});
    }`)}
  let inv = 1.0 / l;
  for (var j = 0u; j <= t; j++) { att[pRow + j] *= inv; }
  for (var j = t + 1u; j < u.T; j++) { att[pRow + j] = 0.0; }
  for (var d = 0u; d < D4; d++) { out[rowQ + d] = o[d] * inv; }
}`,
  }));
}

function backwardQueryKernel(D: number, offset: boolean): Kernel {
  return memoKernel(`bq${D}${offset ? "o" : ""}`, () => ({
    name: `attention_backward_q_d${D}${offset ? "_qoffset" : ""}`,
    bindings: withOffset([
      { name: "dq", access: "read_write", type: "vec4<f32>" },
      { name: "datt", access: "read_write" },
      { name: "dout", access: "read", type: "vec4<f32>" },
      { name: "k", access: "read", type: "vec4<f32>" },
      { name: "v", access: "read", type: "vec4<f32>" },
      { name: "att", access: "read" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${TILE_PARAMS}) {
  ${lanePrelude(offset ? DQ_SKIP : undefined)}
  var g: array<vec4<f32>, D4>;
  for (var d = 0u; d < D4; d++) { g[d] = dout[rowQ + d]; }
  // Pass 1: dp_j = dout_t . v_j into datt; delta = sum_j p_j dp_j (= dout_t . out_t).
  var delta = 0.0;
  for (var j = 0u; j <= iMax; j++) {
    ${dotRow("g", "v", "kv0 + j * kvStride")}
    if (j <= t) {
      datt[pRow + j] = s;
      delta += att[pRow + j] * s;
    }
  }
  // Pass 2: ds_j = scale * p_j * (dp_j - delta), the gradient of the unscaled score q.k.
  var acc: array<vec4<f32>, D4>;
  ${maskedLoop("j", "0u", "iMax", "j <= t", (valid) => /* wgsl */ `
    var ds = 0.0;
    if (${valid}) {
      ds = u.scale * att[pRow + j] * (datt[pRow + j] - delta);
      datt[pRow + j] = ds;
    }
    let kj = kv0 + j * kvStride;
    for (var d = 0u; d < D4; d++) {
      acc[d] = select(acc[d], acc[d] + ds * k[kj + d], ${valid});
    }`)}
  for (var d = 0u; d < D4; d++) { dq[rowQ + d] = acc[d]; }
}`,
  }));
}

function backwardKvKernel(D: number, offset: boolean): Kernel {
  // Lanes are keys j of one (b, kv head); t runs over the query rows that can see them (offset
  // variant: from the row's first computed query, the only ones whose gradient counts).
  return memoKernel(`bkv${D}${offset ? "o" : ""}`, () => ({
    name: `attention_backward_kv_d${D}${offset ? "_qoffset" : ""}`,
    bindings: withOffset([
      { name: "dk", access: "read_write", type: "vec4<f32>" },
      { name: "dv", access: "read_write", type: "vec4<f32>" },
      { name: "dout", access: "read", type: "vec4<f32>" },
      { name: "q", access: "read", type: "vec4<f32>" },
      { name: "att", access: "read" },
      { name: "datt", access: "read" },
    ], offset),
    uniforms: UNIFORMS,
    workgroupSize: [TILE, 1, 1],
    body: /* wgsl */ `
const D4 = ${D / 4}u;
fn main(${TILE_PARAMS}) {
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  let j0 = wid.x * ${TILE}u;
  let j = j0 + lid;
  if (j >= u.T) { return; }
  var dkAcc: array<vec4<f32>, D4>;
  var dvAcc: array<vec4<f32>, D4>;
  for (var g = 0u; g < G; g++) {
    let h = kvh * G + g;
    let pBase = (b * u.Hq + h) * u.T * u.T;
    for (var t = ${offset ? "max(j0, qStart[b])" : "j0"}; t < u.T; t++) {
      let valid = j <= t;
      let pi = pBase + t * u.T + j;
      let rowT = ((b * u.T + t) * u.Hq + h) * D4;
      let p = select(0.0, att[pi], valid);
      let ds = select(0.0, datt[pi], valid);
      for (var d = 0u; d < D4; d++) {
        dvAcc[d] = select(dvAcc[d], dvAcc[d] + p * dout[rowT + d], valid);
        dkAcc[d] = select(dkAcc[d], dkAcc[d] + ds * q[rowT + d], valid);
      }
    }
  }
  let rowK = ((b * u.T + j) * u.Hkv + kvh) * D4;
  for (var d = 0u; d < D4; d++) {
    dk[rowK + d] = dkAcc[d];
    dv[rowK + d] = dvAcc[d];
  }
}`,
  }));
}

/** Validate sizes and buffer lengths; returns the uniforms. */
export function attentionUniforms(name: string, s: AttentionSizes): Record<string, number> {
  const { B, T, Hq, Hkv, D } = s;
  for (const [k, v] of Object.entries(s)) if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: ${k}=${v} must be a positive integer`);
  if (Hq % Hkv !== 0) throw new Error(`${name}: Hq=${Hq} must be a multiple of Hkv=${Hkv}`);
  if (D % 4 !== 0) throw new Error(`${name}: head dim D=${D} must be a multiple of 4 (rows are read as vec4)`);
  void B;
  return { T, Hq, Hkv, scale: 1 / Math.sqrt(D) };
}

export function expectSize(name: string, t: Tensor, n: number, what: string): void {
  if (t.size !== n) throw new Error(`${name}: '${what}' (${t.label}) has ${t.size} elements, expected ${n}`);
}

/**
 * The offset variant's extra buffer, checked: qStart (B) u32, row b's first computed query
 * (shared-rows.ts). Absent: the whole-row kernels, unchanged.
 */
export function offsetBuffers(name: string, s: AttentionSizes, qStart: Tensor | undefined): Tensor[] {
  if (!qStart) return [];
  expectSize(name, qStart, s.B, "qStart");
  return [qStart];
}

/**
 * out = softmax(q k^T * scale, causal) v per head; saves the probabilities in att at j <= t.
 * With qStart, row b computes only its queries t >= qStart[b]; out is 0 at the others. What
 * att holds above the diagonal and at skipped rows is unspecified (the lane schedule writes 0,
 * the subgroup one leaves them as they were): no backward reads them. keep false (a forward
 * with no backward after it): att is only scratch; the subgroup schedule then skips writing P.
 */
export function attentionForward(
  gpu: Gpu,
  out: Tensor, // (B, T, Hq, D)
  att: Tensor, // (B, Hq, T, T) saved probabilities on and below the diagonal
  q: Tensor, // (B, T, Hq, D)
  k: Tensor, // (B, T, Hkv, D)
  v: Tensor, // (B, T, Hkv, D)
  s: AttentionSizes,
  schedule: AttentionSchedule = attentionSchedule(gpu),
  qStart?: Tensor, // (B) u32
  keep = true,
): void {
  const u = attentionUniforms("attentionForward", s);
  const extra = offsetBuffers("attentionForward", s, qStart), o = extra.length > 0;
  const nq = s.B * s.T * s.Hq * s.D, nkv = s.B * s.T * s.Hkv * s.D;
  for (const [t, n, w] of [[out, nq, "out"], [q, nq, "q"], [k, nkv, "k"], [v, nkv, "v"], [att, s.B * s.Hq * s.T * s.T, "att"]] as const) expectSize("attentionForward", t, n, w);
  const G = s.Hq / s.Hkv;
  const kernel = schedule === "subgroup" ? memoKernel(`fwd-sg${s.D}${o ? "o" : ""}${keep ? "" : "n"}`, () => forwardSgKernel(s.D, o, keep)) : forwardKernel(s.D, o);
  gpu.dispatch(kernel, [out, att, q, k, v, ...extra], u, [Math.ceil((G * s.T) / TILE), s.Hkv, s.B]);
}

/**
 * dq, dk, dv from dout and the forward's saved att. Overwrites dq, dk, dv; datt is scratch
 * (B, Hq, T, T) that ends holding the score gradient on and below the diagonal. dk and dv
 * are summed over the query heads that share each kv head. With qStart (the forward's),
 * dq is 0 at the skipped queries and dk, dv of key j in row b sum over t >= max(j, qStart[b]).
 */
export function attentionBackward(
  gpu: Gpu,
  dq: Tensor, // (B, T, Hq, D)
  dk: Tensor, // (B, T, Hkv, D)
  dv: Tensor, // (B, T, Hkv, D)
  datt: Tensor, // (B, Hq, T, T) scratch
  dout: Tensor, // (B, T, Hq, D)
  q: Tensor, // (B, T, Hq, D)
  k: Tensor, // (B, T, Hkv, D)
  v: Tensor, // (B, T, Hkv, D)
  att: Tensor, // (B, Hq, T, T) from attentionForward
  s: AttentionSizes,
  schedule: AttentionSchedule = attentionSchedule(gpu),
  qStart?: Tensor, // (B) u32
): void {
  const u = attentionUniforms("attentionBackward", s);
  const extra = offsetBuffers("attentionBackward", s, qStart), o = extra.length > 0;
  const nq = s.B * s.T * s.Hq * s.D, nkv = s.B * s.T * s.Hkv * s.D, na = s.B * s.Hq * s.T * s.T;
  for (const [t, n, w] of [[dq, nq, "dq"], [dout, nq, "dout"], [q, nq, "q"], [dk, nkv, "dk"], [dv, nkv, "dv"], [k, nkv, "k"], [v, nkv, "v"], [att, na, "att"], [datt, na, "datt"]] as const) {
    expectSize("attentionBackward", t, n, w);
  }
  const G = s.Hq / s.Hkv;
  const sg = schedule === "subgroup";
  const oKey = o ? "o" : "";
  const kq = sg ? memoKernel(`bq-sg${s.D}${oKey}`, () => backwardQuerySgKernel(s.D, o)) : backwardQueryKernel(s.D, o);
  const kkv = sg ? memoKernel(`bkv-sg${s.D}${oKey}`, () => backwardKvSgKernel(s.D, o)) : backwardKvKernel(s.D, o);
  gpu.dispatch(kq, [dq, datt, dout, k, v, att, ...extra], u, [Math.ceil((G * s.T) / TILE), s.Hkv, s.B]);
  gpu.dispatch(kkv, [dk, dv, dout, q, att, datt, ...extra], u, [Math.ceil(s.T / TILE), s.Hkv, s.B]);
}
