// SwiGLU over the packed output of one gate+up projection: gu (N, 2F) holds, per row, the
// gate_proj outputs then the up_proj outputs (a matmul against the row-concatenated
// weights, one dispatch instead of two); out (N, F) = silu(gate) * up with activations.ts's
// silu, so results are bit-identical to swigluForward on separate buffers (tested).
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { ELEMENTWISE_WG, elementwise } from "./activations.js";
import { expectSize } from "./attention.js";
import { grid1d } from "./grid.js";

const WG = ELEMENTWISE_WG;

/** activations.ts's swiglu_forward statement, gate and up read from the two halves of a row. */
const kernel: Kernel = elementwise(
  "decode_swiglu_packed",
  [
    { name: "out", access: "read_write" },
    { name: "gu", access: "read" },
  ],
  `let src = (i / u.F) * 2u * u.F + i % u.F;
  out[i] = silu(gu[src]) * gu[src + u.F];`,
  [{ name: "F", type: "u32" }],
);

/** out = silu(gate) * up with gate, up the two halves of each row of gu. */
export function decodeSwigluPacked(
  gpu: Gpu,
  out: Tensor, // (N, F)
  gu: Tensor, // (N, 2F)
  s: { N: number; F: number },
): void {
  if (!(Number.isInteger(s.N) && s.N >= 1 && Number.isInteger(s.F) && s.F >= 1)) throw new Error(`decodeSwigluPacked: N=${s.N} and F=${s.F} must be positive integers`);
  expectSize("decodeSwigluPacked", out, s.N * s.F, "out");
  expectSize("decodeSwigluPacked", gu, 2 * s.N * s.F, "gu");
  const n = s.N * s.F;
  gpu.dispatch(kernel, [out, gu], { n, F: s.F }, grid1d(n, WG));
}
