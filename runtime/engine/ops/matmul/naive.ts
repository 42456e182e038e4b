// The plainest schedule: one output element per invocation, k-loop straight from global
// memory. Slow everywhere; kept as the readable statement of what every schedule computes
// and as the floor the benchmark compares against.
import type { Kernel } from "../../kernel.js";
import { EPILOGUE, MATMUL_BINDINGS, MATMUL_UNIFORMS, type MatmulShape, layoutName } from "./layout.js";

const WG = 8;

export function naiveKernel(s: MatmulShape): Kernel {
  const aIdx = s.transA ? "aBase + k * u.M + m" : "aBase + m * u.K + k";
  const bIdx = s.transB ? "bBase + n * u.K + k" : "bBase + k * u.N + n";
  return {
    name: `matmul_naive_${layoutName(s)}`,
    bindings: MATMUL_BINDINGS,
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [WG, WG, 1],
    body: /* wgsl */ `
${EPILOGUE}

fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m = u.rowOffset + gid.y;
  let n = gid.x;
  if (m >= u.M || n >= u.N) { return; }
  let aBase = wid.z * u.strideA;
  let bBase = wid.z * u.strideB;
  var acc = 0.0;
  for (var k = 0u; k < u.K; k++) { acc = fma(a[${aIdx}], b[${bIdx}], acc); }
  epilogue(wid.z * u.strideC + m * u.N + n, n, acc);
}`,
  };
}

export const naiveTile = { rows: WG, cols: WG };
