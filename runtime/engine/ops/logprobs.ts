// Log-probabilities of chosen tokens, and the full log-softmax.
//
// logprobs: logp[n] = log_softmax(logits[n])[ids[n]], one pass over each row (rowstats.ts),
// optionally saving the row logsumexp that backward reads:
//   dlogits[n, v] = dlogp[n] * (onehot(ids[n])_v - softmax(logits[n])_v),  p_v = exp(x_v - lse[n]).
// logSoftmax: out = x - lse over (N, V); backward from the saved output, as torch does:
//   dx = dout - exp(out) * sum_v dout.
// Rows with a NaN or +inf logit, or no finite logit, give NaN (see rowstats.ts).
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { grid1d } from "./grid.js";
import { ROW_HELPERS, ROW_ONLINE, ROW_WG, checkRows, rowGrad, rowStats } from "./rowstats.js";

export interface RowSizes {
  N: number; // rows (tokens)
  V: number; // vocabulary
}

/** logp (N) of ids; lse (N) saved for backward unless null. */
export function logprobsForward(
  gpu: Gpu,
  logp: Tensor, // (N)
  lse: Tensor | null, // (N)
  logits: Tensor, // (N, V)
  ids: Tensor, // (N) u32, each < V
  { N, V }: RowSizes,
): void {
  rowStats(gpu, logp, lse, null, logits, ids, N, V);
}

/** dlogits (N, V) = dlogp * (onehot(ids) - p); `accumulate` adds into dlogits instead. */
export function logprobsBackward(
  gpu: Gpu,
  dlogits: Tensor, // (N, V)
  dlogp: Tensor, // (N)
  logits: Tensor, // (N, V)
  ids: Tensor, // (N) u32
  lse: Tensor, // (N) from logprobsForward
  { N, V, accumulate = false }: RowSizes & { accumulate?: boolean },
): void {
  rowGrad(gpu, dlogits, dlogp, null, logits, ids, lse, null, N, V, accumulate);
}

// ---- full log-softmax -----------------------------------------------------------------

const rowMain = "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32)";

const logSoftmaxKernel: Kernel = {
  name: "log_softmax",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "x", access: "read" },
  ],
  uniforms: [{ name: "N", type: "u32" }, { name: "V", type: "u32" }],
  workgroupSize: [ROW_WG, 1, 1],
  // One workgroup per row: online (max, sum) over the row, tree merge, then a second sweep
  // writes (x - m) - log s (subtracting m first keeps precision when |m| is large).
  body: /* wgsl */ `
${ROW_HELPERS}
${ROW_ONLINE}
var<workgroup> red: array<vec4<f32>, ${ROW_WG}>;

${rowMain} {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; }
  let base = row * u.V;
  var st = vec4<f32>(LOWEST, 0.0, 0.0, 0.0);
  for (var v = lid; v < u.V; v += ${ROW_WG}u) { st = push(st, x[base + v]); }
  red[lid] = st;
  for (var stride = ${ROW_WG / 2}u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = merge(red[lid], red[lid + stride]); }
  }
  workgroupBarrier();
  let r = red[0];
  let bad = r.w > 0.0 || r.y == 0.0;
  let logs = log(r.y);
  for (var v = lid; v < u.V; v += ${ROW_WG}u) {
    out[base + v] = nan_if(bad, (x[base + v] - r.x) - logs);
  }
}`,
};

const logSoftmaxBackwardKernel: Kernel = {
  name: "log_softmax_backward",
  bindings: [
    { name: "dx", access: "read_write" },
    { name: "dout", access: "read" },
    { name: "out", access: "read" },
  ],
  uniforms: [{ name: "N", type: "u32" }, { name: "V", type: "u32" }, { name: "accumulate", type: "u32" }],
  workgroupSize: [ROW_WG, 1, 1],
  body: /* wgsl */ `
var<workgroup> red: array<f32, ${ROW_WG}>;

${rowMain} {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; }
  let base = row * u.V;
  var s = 0.0;
  for (var v = lid; v < u.V; v += ${ROW_WG}u) { s += dout[base + v]; }
  red[lid] = s;
  for (var stride = ${ROW_WG / 2}u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] = red[lid] + red[lid + stride]; }
  }
  workgroupBarrier();
  let total = red[0];
  for (var v = lid; v < u.V; v += ${ROW_WG}u) {
    let g = dout[base + v] - exp(out[base + v]) * total;
    if (u.accumulate != 0u) { dx[base + v] = dx[base + v] + g; } else { dx[base + v] = g; }
  }
}`,
};

/** out (N, V) = log_softmax(x) along V. `out` must not alias `x`. */
export function logSoftmaxForward(
  gpu: Gpu,
  out: Tensor, // (N, V)
  x: Tensor, // (N, V)
  { N, V }: RowSizes,
): void {
  checkRows(N, V);
  gpu.dispatch(logSoftmaxKernel, [out, x], { N, V }, grid1d(N, 1));
}

/** dx (N, V) = dout - exp(out) * rowsum(dout), from forward's output. */
export function logSoftmaxBackward(
  gpu: Gpu,
  dx: Tensor, // (N, V)
  dout: Tensor, // (N, V)
  out: Tensor, // (N, V) from logSoftmaxForward
  { N, V, accumulate = false }: RowSizes & { accumulate?: boolean },
): void {
  checkRows(N, V);
  gpu.dispatch(logSoftmaxBackwardKernel, [dx, dout, out], { N, V, accumulate: accumulate ? 1 : 0 }, grid1d(N, 1));
}
