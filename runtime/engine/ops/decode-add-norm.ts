// Decoding's fused residual add and RMSNorm: x += t, then out = rmsnorm(x) * weight, the
// pair (accumulate, rmsnormForward) that follows every attention and MLP block, in one
// dispatch. One row per lane with vec4 loads, rmsnorm.ts's "lane" kernel text (its
// wgslRmsnormLaneMain) with residual.ts's accumulate at the load, so on adapters where the
// decoder uses it (the "lane" schedule's: rows of whole vec4s on CPU rasterisers) results
// are bit-identical to the unfused pair (tested). Edge values are rmsnorm.ts's.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { expectSize } from "./attention.js";
import { grid1d } from "./grid.js";
import { LANE_WG, v4, wgslRmsnormLaneMain } from "./rmsnorm.js";

const WG = LANE_WG;

const kernel: Kernel = {
  name: "decode_add_rmsnorm",
  bindings: [v4("x", "read_write"), v4("out", "read_write"), { name: "rstd", access: "read_write" }, v4("t", "read"), v4("weight", "read")],
  uniforms: [
    { name: "N", type: "u32" },
    { name: "C", type: "u32" },
    { name: "eps", type: "f32" },
  ],
  workgroupSize: [WG, 1, 1],
  // rmsnorm.ts's lane kernel, the residual added (and stored) as each element is loaded.
  body: wgslRmsnormLaneMain(`let v = x[base + c] + t[base + c];
    x[base + c] = v;`),
};

/** x += t; out = rmsnorm(x) * weight, rstd = 1 / rms(x). C must be a multiple of 4. */
export function decodeAddRmsnorm(
  gpu: Gpu,
  x: Tensor, // (N, C) residual stream, updated in place
  out: Tensor, // (N, C)
  rstd: Tensor, // (N)
  t: Tensor, // (N, C) the block's output
  weight: Tensor, // (C)
  s: { N: number; C: number; eps: number },
): void {
  if (!(Number.isInteger(s.N) && s.N >= 1 && Number.isInteger(s.C) && s.C >= 4 && s.C % 4 === 0)) throw new Error(`decodeAddRmsnorm: N=${s.N} must be a positive integer and C=${s.C} a positive multiple of 4`);
  for (const [a, name] of [[x, "x"], [out, "out"], [t, "t"]] as const) expectSize("decodeAddRmsnorm", a, s.N * s.C, name);
  expectSize("decodeAddRmsnorm", rstd, s.N, "rstd");
  expectSize("decodeAddRmsnorm", weight, s.C, "weight");
  gpu.dispatch(kernel, [x, out, rstd, t, weight], { N: s.N, C: s.C, eps: s.eps }, grid1d(s.N, WG));
}
