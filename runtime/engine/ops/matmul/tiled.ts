// Shared-memory tiled matmul: the schedule for real GPUs. A 16x16 workgroup computes a
// 64x64 output tile; each k-slab of 16 is staged through workgroup memory (coalesced
// global loads whatever the layout, each element read once per tile instead of 64 times),
// and each invocation accumulates a 4x4 block in registers. Invocation (tx, ty) owns rows
// ty + 16i and columns tx + 16j, so neighbouring invocations read neighbouring words.
import type { Kernel } from "../../kernel.js";
import { EPILOGUE, MATMUL_BINDINGS, MATMUL_UNIFORMS, type MatmulShape, layoutName } from "./layout.js";

const T = 64; // output tile edge
const BK = 16; // k-slab depth
const W = 16; // workgroup edge; T / W = 4 outputs per invocation per dimension
const R = T / W;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export function tiledKernel(s: MatmulShape): Kernel {
  // Element e (0..T*BK-1) of a slab load, mapped so consecutive e read consecutive words.
  const aLoad = s.transA
    ? "let kk = e / ${T}u; let mm = e % ${T}u; let ok = m0 + mm < u.M && k0 + kk < u.K; let v = a[aBase + min(k0 + kk, u.K - 1u) * u.M + min(m0 + mm, u.M - 1u)];"
    : "let mm = e / ${BK}u; let kk = e % ${BK}u; let ok = m0 + mm < u.M && k0 + kk < u.K; let v = a[aBase + min(m0 + mm, u.M - 1u) * u.K + min(k0 + kk, u.K - 1u)];";
  const bLoad = s.transB
    ? "let nn = e / ${BK}u; let kk = e % ${BK}u; let ok = n0 + nn < u.N && k0 + kk < u.K; let v = b[bBase + min(n0 + nn, u.N - 1u) * u.K + min(k0 + kk, u.K - 1u)];"
    : "let kk = e / ${T}u; let nn = e % ${T}u; let ok = n0 + nn < u.N && k0 + kk < u.K; let v = b[bBase + min(k0 + kk, u.K - 1u) * u.N + min(n0 + nn, u.N - 1u)];";
  const fill = (code: string): string => code.replaceAll("${T}", String(T)).replaceAll("${BK}", String(BK));
  const I = range(R);
  return {
    name: `matmul_tiled${T}_${layoutName(s)}`,
    bindings: MATMUL_BINDINGS,
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [W, W, 1],
    body: /* wgsl */ `
var<workgroup> As: array<f32, ${BK * T}>; // [kk][m]
var<workgroup> Bs: array<f32, ${BK * T}>; // [kk][n]

${EPILOGUE}

fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = u.rowOffset + wid.y * ${T}u;
  let n0 = wid.x * ${T}u;
  let aBase = wid.z * u.strideA;
  let bBase = wid.z * u.strideB;
  let li = lid.y * ${W}u + lid.x;
  ${I.flatMap((i) => I.map((j) => `var acc${i}_${j} = 0.0;`)).join(" ")}
  for (var k0 = 0u; k0 < u.K; k0 += ${BK}u) {
    for (var r = 0u; r < ${(T * BK) / (W * W)}u; r++) {
      let e = li + r * ${W * W}u;
      { ${fill(aLoad)} As[kk * ${T}u + mm] = select(0.0, v, ok); }
      { ${fill(bLoad)} Bs[kk * ${T}u + nn] = select(0.0, v, ok); }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      ${I.map((i) => `let a${i} = As[kk * ${T}u + lid.y + ${i * W}u];`).join(" ")}
      ${I.map((j) => `let b${j} = Bs[kk * ${T}u + lid.x + ${j * W}u];`).join(" ")}
      ${I.flatMap((i) => I.map((j) => `acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`)).join("\n      ")}
    }
    workgroupBarrier();
  }
  let cBase = wid.z * u.strideC;
  ${I.flatMap((i) => I.map((j) => `{ let m = m0 + lid.y + ${i * W}u; let n = n0 + lid.x + ${j * W}u; if (m < u.M && n < u.N) { epilogue(cBase + m * u.N + n, n, acc${i}_${j}); } }`)).join("\n  ")}
}`,
  };
}

export const tiledTile = { rows: T, cols: T };
