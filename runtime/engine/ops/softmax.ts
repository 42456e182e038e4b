// Row softmax over (N, C), forward and backward. One workgroup per row; each lane keeps a
// running (max, sum) over its strided slice (online softmax, so x is read twice, not three
// times), then the pairs are merged by a tree in workgroup memory.
//
// Edge behaviour (the reference in softmax.ref.ts defines the same):
//   - a row whose entries are all -inf (fully masked) gives all zeros, not NaN: it has no
//     admissible entry, so it carries no probability mass, and its gradient is zero too;
//   - +inf entries share the mass equally (the limit of equal logits growing together);
//     with one +inf entry that entry gets 1 and the rest 0;
//   - any NaN in a row makes the whole row NaN.
// The kernel never materialises an infinity: the running max starts at -FLT_MAX, so
// -inf entries contribute exp(-inf) = 0 and a fully masked row ends with sum 0.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { grid1d } from "./grid.js";

const WG = 128;

/** WGSL shared by forward and backward: row index from a folded grid, bounds check. */
const ROW_PARAMS =
  "@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32";

const forwardKernel: Kernel = {
  name: "softmax_forward",
  bindings: [
    { name: "y", access: "read_write" },
    { name: "x", access: "read" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
const WG = ${WG}u;
const LOWEST = -0x1.fffffep+127f; // -FLT_MAX: below every finite value, above -inf
var<workgroup> wm: array<f32, WG>;
var<workgroup> ws: array<f32, WG>;

// exp(a - m) for a <= m, but exactly 1 when a == m (so +inf == +inf gives 1, not NaN).
// NaN in either argument gives NaN.
fn rel(a: f32, m: f32) -> f32 {
  return select(exp(a - m), 1.0, a == m);
}

fn main(${ROW_PARAMS}) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; }
  let base = row * u.C;
  var m = LOWEST;
  var s = 0.0;
  for (var c = lid; c < u.C; c += WG) {
    let v = x[base + c];
    let mn = max(m, v);
    s = s * rel(m, mn) + rel(v, mn);
    m = mn;
  }
  wm[lid] = m;
  ws[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k >> 1u) {
    if (lid < k) {
      let m1 = wm[lid];
      let m2 = wm[lid + k];
      let mn = max(m1, m2);
      ws[lid] = ws[lid] * rel(m1, mn) + ws[lid + k] * rel(m2, mn);
      wm[lid] = mn;
    }
    workgroupBarrier();
  }
  let mr = wm[0];
  let sr = ws[0];
  // sr == 0 only when every entry is -inf: the fully masked row gives zeros.
  let inv = select(1.0 / sr, 0.0, sr == 0.0);
  for (var c = lid; c < u.C; c += WG) {
    y[base + c] = rel(x[base + c], mr) * inv;
  }
}`,
};

const backwardKernel: Kernel = {
  name: "softmax_backward",
  bindings: [
    { name: "dx", access: "read_write" },
    { name: "dy", access: "read" },
    { name: "y", access: "read" },
  ],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
const WG = ${WG}u;
var<workgroup> wsum: array<f32, WG>;

fn main(${ROW_PARAMS}) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; }
  let base = row * u.C;
  var s = 0.0;
  for (var c = lid; c < u.C; c += WG) {
    s += dy[base + c] * y[base + c];
  }
  wsum[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k >> 1u) {
    if (lid < k) { wsum[lid] += wsum[lid + k]; }
    workgroupBarrier();
  }
  let dot = wsum[0];
  for (var c = lid; c < u.C; c += WG) {
    let yi = y[base + c];
    dx[base + c] = yi * (dy[base + c] - dot);
  }
}`,
};

export interface SoftmaxSizes {
  N: number; // rows
  C: number; // entries per row
}

function check(name: string, sizes: SoftmaxSizes, ...ts: Tensor[]): void {
  const { N, C } = sizes;
  if (!Number.isInteger(N) || !Number.isInteger(C) || N < 0 || C < 1) throw new Error(`${name}: bad sizes N=${N} C=${C}`);
  for (const t of ts) {
    if (t.size !== N * C) throw new Error(`${name}: tensor '${t.label}' has ${t.size} elements, expected N*C = ${N * C}`);
  }
}

/** y = softmax(x) along each row. `y` must not alias `x`. */
export function softmaxForward(
  gpu: Gpu,
  y: Tensor, // (N, C)
  x: Tensor, // (N, C)
  sizes: SoftmaxSizes,
): void {
  check("softmaxForward", sizes, y, x);
  gpu.dispatch(forwardKernel, [y, x], { N: sizes.N, C: sizes.C }, grid1d(sizes.N, 1));
}

/** dx = y * (dy - sum(dy * y)) along each row, from the forward's output y. Overwrites dx. */
export function softmaxBackward(
  gpu: Gpu,
  dx: Tensor, // (N, C)
  dy: Tensor, // (N, C)
  y: Tensor, // (N, C) forward output
  sizes: SoftmaxSizes,
): void {
  check("softmaxBackward", sizes, dx, dy, y);
  gpu.dispatch(backwardKernel, [dx, dy, y], { N: sizes.N, C: sizes.C }, grid1d(sizes.N, 1));
}
