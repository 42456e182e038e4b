// Residual add: out = a + b, element-wise. Backward is the identity into both inputs,
// so callers pass the same dout on to each branch (no kernel needed); `accumulate`
// adds a gradient into an existing buffer, which residual streams need in backward.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

const addKernel: Kernel = {
  name: "residual_add",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "a", access: "read" },
    { name: "b", access: "read" },
  ],
  uniforms: [{ name: "n", type: "u32" }],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  out[i] = a[i] + b[i];
}`,
};

const accumulateKernel: Kernel = {
  name: "accumulate",
  bindings: [
    { name: "acc", access: "read_write" },
    { name: "x", access: "read" },
  ],
  uniforms: [{ name: "n", type: "u32" }],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  acc[i] = acc[i] + x[i];
}`,
};

/** out = a + b; all (N). `out` may alias neither input. */
export function residualForward(gpu: Gpu, out: Tensor, a: Tensor, b: Tensor, n = out.size): void {
  gpu.dispatch(addKernel, [out, a, b], { n }, grid1d(n, WG));
}

/** acc += x; both (N). Used to sum gradients that reach one tensor along two paths. */
export function accumulate(gpu: Gpu, acc: Tensor, x: Tensor, n = acc.size): void {
  gpu.dispatch(accumulateKernel, [acc, x], { n }, grid1d(n, WG));
}
