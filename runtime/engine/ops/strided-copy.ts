// Strided copy: out[i * os + oc] = src[i * ss + sc] for i < n. Moves one column of a
// row-major table into a vector and back (the loss head's per-token columns, the policy's
// interleaved (N, 2) [logp, H]) without reading the other columns: a NaN elsewhere in the
// row stays where it is. Bits are copied as they are (u32 view), so -0, NaN payloads and
// infinities pass unchanged.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

const stridedCopyKernel: Kernel = {
  name: "strided_copy",
  bindings: [
    { name: "out", access: "read_write", type: "u32" },
    { name: "src", access: "read", type: "u32" },
  ],
  uniforms: [
    { name: "n", type: "u32" },
    { name: "os", type: "u32" },
    { name: "oc", type: "u32" },
    { name: "ss", type: "u32" },
    { name: "sc", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  out[i * u.os + u.oc] = src[i * u.ss + u.sc];
}`,
};

export interface Stride {
  stride: number; // elements between consecutive items
  offset: number; // element of item 0
}

/** out[i * o.stride + o.offset] = src[i * s.stride + s.offset], i < n. `out` must not alias `src`. */
export function stridedCopy(gpu: Gpu, out: Tensor, o: Stride, src: Tensor, s: Stride, n: number): void {
  for (const [name, t, st] of [["out", out, o], ["src", src, s]] as const) {
    if (!(st.stride >= 1 && st.offset >= 0 && st.offset < st.stride) || !Number.isInteger(st.stride) || !Number.isInteger(st.offset)) {
      throw new Error(`stridedCopy: ${name} stride ${st.stride} / offset ${st.offset} must be integers with 0 <= offset < stride`);
    }
    if (n > 0 && (n - 1) * st.stride + st.offset >= t.size) throw new Error(`stridedCopy: ${name} '${t.label}' has ${t.size} elements, ${n} items of stride ${st.stride} need ${(n - 1) * st.stride + st.offset + 1}`);
  }
  if (out.buffer === src.buffer) throw new Error("stridedCopy: out must not alias src");
  if (n === 0) return;
  gpu.dispatch(stridedCopyKernel, [out, src], { n, os: o.stride, oc: o.offset, ss: s.stride, sc: s.offset }, grid1d(n, WG));
}
