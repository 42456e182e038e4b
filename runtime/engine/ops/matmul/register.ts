// Register-blocked matmul without workgroup memory: the schedule for CPU adapters
// (lavapipe). There, one workgroup runs on one CPU thread as a loop over SIMD vectors of
// `subgroup` lanes (8 with AVX2) and workgroup memory is ordinary (slow) memory. A load whose
// address is the same for every lane becomes one scalar load plus a broadcast only when that
// address is a compile-time constant; in the k-loop it is a per-lane loop like any other load
// (register-vec4.ts says what llvmpipe generates), so what counts is loads per FMA.
// So: a workgroup owns TM rows of the output (A's loads are shared), each lane owns TN
// columns spaced WG apart (B's loads are contiguous across neighbouring lanes when B is
// stored (K, N)), and each lane keeps TM x TN accumulators in registers, like a BLIS
// micro-kernel: per k, TN vector loads of B, TM broadcasts of A, TM * TN FMAs.
import type { Kernel } from "../../kernel.js";
import { EPILOGUE, MATMUL_BINDINGS, MATMUL_UNIFORMS, type MatmulShape, layoutName } from "./layout.js";

export interface RegisterTiles {
  /** Lanes per workgroup. */
  wg: number;
  /** Output rows per workgroup (shared by all its lanes). */
  tm: number;
  /** Output columns per lane. */
  tn: number;
  /** k-steps per loop iteration. */
  unroll: number;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export function registerKernel(s: MatmulShape, t: RegisterTiles = REGISTER_TILES): Kernel {
  const { wg, tm, tn, unroll } = t;
  const I = range(tm), J = range(tn);
  // A(m, k) at a[aRow + k * aStepK]; B(k, n) at b[bCol + k * bStepK].
  const aStepK = s.transA ? "u.M" : "1u";
  const bStepK = s.transB ? "1u" : "u.N";
  const step = (k: number): string => {
    const lines: string[] = [];
    for (const j of J) lines.push(`let b${j} = b[bc${j} + ${k === 0 ? "kb" : `kb + ${k}u * sB`}];`);
    for (const i of I) {
      lines.push(`let a${i} = a[ar${i} + ${k === 0 ? "ka" : `ka + ${k}u * sA`}];`);
      for (const j of J) lines.push(`acc${i}_${j} = acc${i}_${j} + a${i} * b${j};`);
    }
    return `{ ${lines.join(" ")} }`;
  };
  const body = /* wgsl */ `
${EPILOGUE}

fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = u.rowOffset + wid.y * ${tm}u;
  let n0 = wid.x * ${wg * tn}u + lid.x;
  let aBase = wid.z * u.strideA;
  let bBase = wid.z * u.strideB;
  // Rows and columns past the edge load a clamped (valid) element and are not stored,
  // so the k-loop carries no bounds checks.
  ${I.map((i) => `let ar${i} = aBase + ${s.transA ? `min(m0 + ${i}u, u.M - 1u)` : `min(m0 + ${i}u, u.M - 1u) * u.K`};`).join("\n  ")}
  ${J.map((j) => `let bc${j} = bBase + ${s.transB ? `min(n0 + ${j * wg}u, u.N - 1u) * u.K` : `min(n0 + ${j * wg}u, u.N - 1u)`};`).join("\n  ")}
  let sA = ${aStepK};
  let sB = ${bStepK};
  ${I.flatMap((i) => J.map((j) => `var acc${i}_${j} = 0.0;`)).join(" ")}
  var ka = 0u;
  var kb = 0u;
  var k = 0u;
  let kMain = u.K - u.K % ${unroll}u;
  for (; k < kMain; k += ${unroll}u) {
    ${range(unroll).map(step).join("\n    ")}
    ka += ${unroll}u * sA;
    kb += ${unroll}u * sB;
  }
  for (; k < u.K; k++) {
    ${step(0)}
    ka += sA;
    kb += sB;
  }
  let cBase = wid.z * u.strideC;
  ${I.map((i) => `if (m0 + ${i}u < u.M) {\n    ${J.map((j) => `if (n0 + ${j * wg}u < u.N) { epilogue(cBase + (m0 + ${i}u) * u.N + n0 + ${j * wg}u, n0 + ${j * wg}u, acc${i}_${j}); }`).join("\n    ")}\n  }`).join("\n  ")}
}`;
  return {
    name: `matmul_reg${tm}x${tn}w${wg}u${unroll}_${layoutName(s)}`,
    bindings: MATMUL_BINDINGS,
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [wg, 1, 1],
    body,
  };
}

/** The tile sizes the library uses on CPU adapters (see the benchmark for the search). */
export const REGISTER_TILES: RegisterTiles = { wg: 32, tm: 8, tn: 4, unroll: 1 };

/** Output rows and columns one workgroup covers. */
export const registerTile = { rows: REGISTER_TILES.tm, cols: REGISTER_TILES.wg * REGISTER_TILES.tn };

/** Workgroups for an (M, N) output per batch item: [x over columns, y over row blocks]. */
export const registerGrid = (t: RegisterTiles, M: number, N: number): [number, number] => [Math.ceil(N / (t.wg * t.tn)), Math.ceil(M / t.tm)];
