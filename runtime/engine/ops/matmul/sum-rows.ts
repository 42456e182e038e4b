// Column sums of a row-major matrix: out (N) = sum over rows of x (M, N); the bias gradient
// of a linear layer (dbias = sum of dout over tokens). Each invocation owns one column and
// walks the rows, so neighbouring invocations read neighbouring words and no atomics or
// second pass are needed; M (tokens) is at most a few thousand here.
import type { Gpu } from "../../gpu.js";
import type { Kernel } from "../../kernel.js";
import type { Tensor } from "../../tensor.js";

const WG = 64;

const sumRowsKernel: Kernel = {
  name: "sum_rows",
  bindings: [
    { name: "out", access: "read_write" },
    { name: "x", access: "read" },
  ],
  uniforms: [
    { name: "M", type: "u32" },
    { name: "N", type: "u32" },
    { name: "accumulate", type: "u32" },
  ],
  workgroupSize: [WG, 1, 1],
  body: /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= u.N) { return; }
  var s = 0.0;
  for (var m = 0u; m < u.M; m++) { s += x[m * u.N + n]; }
  if (u.accumulate != 0u) { s += out[n]; }
  out[n] = s;
}`,
};

/** out = sum over rows of x (or out += ... with accumulate). */
export function sumRows(
  gpu: Gpu,
  out: Tensor, // (N)
  x: Tensor, // (M, N)
  dims: { M: number; N: number; accumulate?: boolean },
): void {
  const { M, N, accumulate = false } = dims;
  if (out.size < N || x.size < M * N) throw new Error(`sumRows: out has ${out.size} elements (need ${N}), x has ${x.size} (need ${M * N})`);
  if (N > 65535 * WG) throw new Error(`sumRows: N = ${N} is too wide for one dispatch`);
  gpu.dispatch(sumRowsKernel, [out, x], { M, N, accumulate: accumulate ? 1 : 0 }, [Math.ceil(N / WG)]);
}
