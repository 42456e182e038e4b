// The register-blocked schedule (register.ts) with every load 16 bytes wide, for operands
// whose contiguous dimension is a multiple of 4. On lavapipe a load that differs across
// lanes is split into one scalar access per lane, so what counts is FMAs per load
// *instruction*: here each uniform vec4 load of A brings 4 values (4 k-steps of one row,
// or 4 rows of one k-step), and each lane's vec4 load of B brings 4 k-steps of one column
// (B stored (N, K)) or one k-step of 4 adjacent columns (B stored (K, N)). The k-loop
// advances 4 at a time; the dimensions the vec4 loads run along must be multiples of 4, and so
// must K unless A is stored (K, M) and B (K, N), where single k-steps end the loop (kTail).
//
// What llvmpipe (Mesa 25.0.7, LLVM 15, "256 bits") makes of it, read from the machine code
// (perf samples of the JIT code, disassembled with gdb) and Mesa's gallivm/lp_bld_nir_soa.c;
// figures and commands in spec/speed.md, "The matmul on lavapipe":
// - A storage-buffer load takes the one-scalar-load-plus-broadcast path only when
//   nir_src_is_always_uniform holds for its address: a compile-time constant. Workgroup ids,
//   values from the uniform buffer and loop counters are not "always uniform", so every load
//   in the k-loop, even one whose address is the same in every lane, is an unrolled loop over
//   the 8 lanes: test the lane's execution-mask bit, reload the buffer's base and size from
//   the descriptor, then per component a bounds compare and branch, a scalar load and an
//   insert: about 35 instructions per vec4 per lane. (a[5u] costs ~3 cycles per 8-lane
//   iteration, a[k] ~30.) Workgroup memory goes the same per-lane way, without bounds checks.
// - fma() is not fused: vmulps + vaddps. A variable carried around the loop is written back
//   once per iteration through vblendvps on the execution mask.
// - subgroupBroadcast with a constant lane is a vpshufd + vpermq + masked move, ~3 instructions:
//   far cheaper than loading the value in every lane, hence subgroupA.
// - LLVM targets AVX-512VL at 256 bits here (32 ymm registers); the 32x4 tiles' 128
//   accumulators per lane spill to the stack and are reloaded once per k-quad.
// Where the time goes with SUBGROUP_VEC4_TALL_TILES (perf, share of samples in the kernel):
// 1024^3 nn: per-lane load code 60 %, vector spills and reloads 22 %, vmulps/vaddps 14.5 %,
// execution-mask blends 1.8 %, broadcasts 1.5 %; 128x344x14000 tn (a weight gradient) 52 /
// 26.5 / 16 / 2.6 / 2.2 %. Larger tiles load less per FMA but spill more: 32x8 ran at 0.45x the
// 32x4 speed, two k-quads per loop iteration 0.45x; 24x4 and 16x4 were slower on 9 of 10
// shapes (CPU time).
import type { Kernel } from "../../kernel.js";
import { EPILOGUE, MATMUL_UNIFORMS, type MatmulShape, layoutName } from "./layout.js";

export interface Vec4Tiles {
  /** Lanes per workgroup. */
  wg: number;
  /**
   * Share A's loads across a subgroup (needs the 'subgroups' feature and subgroups of at
   * least 8 lanes): lane l loads one vec4 of the tile (row l, or k-row l/2 and half l%2 when
   * A is stored (K, M)) and subgroupBroadcast hands it to every lane. On lavapipe a load in
   * the k-loop is a per-lane gather even when its address is uniform, so this turns tm/4*4
   * redundant gathers per k-quad into one gather plus register broadcasts.
   */
  subgroupA?: boolean;
  /** Output rows per workgroup (a multiple of 4 when A is stored (K, M)). */
  tm: number;
  /** Output columns per lane (a multiple of 4 when B is stored (K, N)). */
  tn: number;
}

export const VEC4_TILES: Vec4Tiles = { wg: 32, tm: 8, tn: 4 };

/**
 * With subgroup broadcasts (measured on lavapipe at the policy's training shapes, load ~5:
 * 4096x344x128 nt 52 -> 30 ms, 128x128x4096 tn 18 -> 9 ms): one 8-lane group per workgroup,
 * 32 output columns, so narrow outputs (N = 108) waste little of the last tile.
 */
export const SUBGROUP_VEC4_TILES: Vec4Tiles = { wg: 8, tm: 8, tn: 4, subgroupA: true };

/**
 * The same with 32 rows per workgroup, for outputs of at least 32 rows. On lavapipe every
 * per-lane load is a bounds-checked scalar access per component (about a dozen instructions
 * each, more than the FMAs it feeds), so the cost per k-step is the tm + 8 * tn floats
 * loaded; 32 rows halve the loads per FMA of 8 rows (128 accumulators per lane spill to the
 * stack, which is cheap next to those loads). Measured on lavapipe at the policy's training
 * shapes, load ~4, min of 15: weight gradients (tn, K = 4096) 128x128 8.6 -> 4.9 ms,
 * 344x128 22.0 -> 13.3 ms, 128x344 23.8 -> 16.1 ms; forward (nt) 4096x344x128
 * 26.2 -> 18.9 ms; input gradients (nn) 4096x128x344 22.8 -> 15.2 ms.
 */
export const SUBGROUP_VEC4_TALL_TILES: Vec4Tiles = { wg: 8, tm: 32, tn: 4, subgroupA: true };

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const X = "xyzw";

/**
 * Can this product use the vec4 kernel? (Contiguous dims and batch strides multiples of 4.)
 * K itself need not be when neither operand is contiguous along it (A stored (K, M), B stored
 * (K, N): a weight gradient over a token count), where a tail of single k-steps ends the loop.
 */
export function vec4Applies(s: MatmulShape, M: number, N: number, K: number, strideA: number, strideB: number): boolean {
  const aDim = s.transA ? M : K;
  const bDim = s.transB ? K : N;
  return (K % 4 === 0 || hasKTail(s)) && aDim % 4 === 0 && bDim % 4 === 0 && strideA % 4 === 0 && strideB % 4 === 0;
}

/** The layout whose k-loop may end in single k-steps: A stored (K, M), B stored (K, N). */
const hasKTail = (s: MatmulShape): boolean => s.transA && !s.transB;

/** Output columns a lane owns: spaced wg apart (B along k), or in quads of 4 adjacent ones (B along n). */
function laneColumn(s: MatmulShape, t: Vec4Tiles, j: number): string {
  return s.transB ? `${j * t.wg}u` : `${4 * t.wg * Math.floor(j / 4) + (j % 4)}u`;
}

export function registerVec4Kernel(s: MatmulShape, t: Vec4Tiles = VEC4_TILES): Kernel {
  const { wg, tm, tn, subgroupA = false } = t;
  if (subgroupA && tm % 8 !== 0) throw new Error("registerVec4Kernel: subgroupA needs tm a multiple of 8 (whole vec4s per lane of an 8-lane group)");
  const I = range(tm), J = range(tn), C = range(4);
  // A(row i, k-step c) and B(k-step c, column j) as WGSL expressions over the loaded vec4s.
  const aVal = (i: number, c: number): string => (s.transA ? `a${c}_${i >> 2}.${X[i & 3]}` : `a${i}.${X[c]}`);
  const bVal = (c: number, j: number): string => (s.transB ? `b${j}.${X[c]}` : `b${c}_${j >> 2}.${X[j & 3]}`);
  // Loads for one k-quad kq (vec4 index units). A rows start at ar_i (row-major, in vec4s);
  // A stored (K, M) is read at row k, vec4 column m0/4 + q; similarly for B.
  // With subgroupA, the tile's tm vec4s (per k-quad) are numbered v = 0..tm-1 (row i = v, or
  // k-row c = v / (tm/4) and vec4 column q = v % (tm/4) when A is stored (K, M)); lane v % 8
  // loads vec4 v in its load number v / 8, and broadcasts hand each one to every lane.
  const aLoads = subgroupA
    ? [...range(tm / 8).map((p) => `let aL${p} = a[aLane${p} + ${s.transA ? "kq * 4u * M4" : "kq"}];`),
       ...(s.transA
         ? C.flatMap((c) => range(tm / 4).map((q) => { const v = c * (tm / 4) + q; return `let a${c}_${q} = subgroupBroadcast(aL${v >> 3}, ${v & 7}u);`; }))
         : I.map((i) => `let a${i} = subgroupBroadcast(aL${i >> 3}, ${i & 7}u);`))]
    : s.transA
    ? C.flatMap((c) => range(tm / 4).map((q) => `let a${c}_${q} = a[aBase + (kq * 4u + ${c}u) * M4 + ac${q}];`))
    : I.map((i) => `let a${i} = a[ar${i} + kq];`);
  const bLoads = s.transB
    ? J.map((j) => `let b${j} = b[bc${j} + kq];`)
    : C.flatMap((c) => range(tn / 4).map((q) => `let b${c}_${q} = b[bBase + (kq * 4u + ${c}u) * N4 + bc${q}];`));
  // The four k-steps of one accumulator are adjacent, so that an accumulator the compiler had to
  // spill is reloaded once per k-quad rather than once per k-step (same order of the sum).
  const fmas = I.flatMap((i) => J.flatMap((j) => C.map((c) => `acc${i}_${j} = fma(${aVal(i, c)}, ${bVal(c, j)}, acc${i}_${j});`)));
  // Lane sg (of 8), load p: vec4 v = 8p + sg, i.e. A row m0 + v, or (A stored (K, M)) k-row
  // v / (tm/4) and vec4 column m0/4 + v % (tm/4).
  const aLaneSetup = (p: number): string => s.transA
    ? `let aLane${p} = aBase + ((sg + ${8 * p}u) / ${tm / 4}u) * M4 + min(m0 / 4u + (sg + ${8 * p}u) % ${tm / 4}u, M4 - 1u);`
    : `let aLane${p} = aBase + min(m0 + sg + ${8 * p}u, u.M - 1u) * K4;`;
  const aSetup = subgroupA
    ? ["let sg = sgid & 7u;", ...range(tm / 8).map(aLaneSetup)]
    : s.transA
    ? range(tm / 4).map((q) => `let ac${q} = min(m0 / 4u + ${q}u, M4 - 1u);`)
    : I.map((i) => `let ar${i} = aBase + min(m0 + ${i}u, u.M - 1u) * K4;`);
  const bSetup = s.transB
    ? J.map((j) => `let bc${j} = bBase + min(n0 + ${j * wg}u, u.N - 1u) * K4;`)
    : range(tn / 4).map((q) => `let bc${q} = min(n0 / 4u + ${q * wg}u, N4 - 1u);`);
  const n0 = s.transB ? `wid.x * ${wg * tn}u + lid.x` : `wid.x * ${wg * tn}u + lid.x * 4u`;
  const tail = hasKTail(s) ? kTail(t) : "";
  const body = /* wgsl */ `
${EPILOGUE}

fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${subgroupA ? ", @builtin(subgroup_invocation_id) sgid: u32" : ""}) {
  let m0 = u.rowOffset + wid.y * ${tm}u;
  let n0 = ${n0};
  let K4 = u.K / 4u; // whole k-quads; K % 4 trailing k-steps only in the k-tail layout
  let M4 = u.M / 4u;
  let N4 = u.N / 4u;
  let aBase = wid.z * u.strideA / 4u;
  let bBase = wid.z * u.strideB / 4u;
  // Past the edge, loads are clamped to valid elements and the results are not stored.
  ${aSetup.join("\n  ")}
  ${bSetup.join("\n  ")}
  ${I.flatMap((i) => J.map((j) => `var acc${i}_${j} = 0.0;`)).join(" ")}
  for (var kq = 0u; kq < K4; kq++) {
    ${aLoads.join("\n    ")}
    ${bLoads.join("\n    ")}
    ${fmas.join("\n    ")}
  }${tail}
  let cBase = wid.z * u.strideC;
  ${I.map((i) => `if (m0 + ${i}u < u.M) {\n    ${J.map((j) => `{ let n = n0 + ${laneColumn(s, t, j)}; if (n < u.N) { epilogue(cBase + (m0 + ${i}u) * u.N + n, n, acc${i}_${j}); } }`).join("\n    ")}\n  }`).join("\n  ")}
}`;
  return {
    name: `matmul_reg4${subgroupA ? "sg" : ""}_${tm}x${tn}w${wg}_${layoutName(s)}`,
    bindings: [
      { name: "c", access: "read_write" },
      { name: "a", access: "read", type: "vec4<f32>" },
      { name: "b", access: "read", type: "vec4<f32>" },
      { name: "bias", access: "read" },
    ],
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [wg, 1, 1],
    body,
    enables: subgroupA ? ["subgroups"] : [],
  };
}

/**
 * A stored (K, M), B stored (K, N), K not a multiple of 4: the last K % 4 k-steps one at a time,
 * after the k-quads, so each accumulator still sums k = 0 .. K-1 in order (the same bits as the
 * scalar kernel). Row k of A holds the tile's tm/4 vec4s; with subgroupA lane sg loads vec4
 * sg % (tm/4) of it and broadcasts share them, as in the k-quads.
 */
function kTail(t: Vec4Tiles): string {
  const { tm, tn, subgroupA = false } = t;
  const Q = range(tm / 4), J = range(tn / 4);
  const aLoads = subgroupA
    ? [`let aT = a[aBase + k * M4 + min(m0 / 4u + sg % ${tm / 4}u, M4 - 1u)];`, ...Q.map((q) => `let t${q} = subgroupBroadcast(aT, ${q}u);`)]
    : Q.map((q) => `let t${q} = a[aBase + k * M4 + ac${q}];`);
  const bLoads = J.map((q) => `let bt${q} = b[bBase + k * N4 + bc${q}];`);
  const fmas = range(tm).flatMap((i) => range(tn).map((j) => `acc${i}_${j} = fma(t${i >> 2}.${X[i & 3]}, bt${j >> 2}.${X[j & 3]}, acc${i}_${j});`));
  return `
  for (var k = K4 * 4u; k < u.K; k++) {
    ${[...aLoads, ...bLoads, ...fmas].join("\n    ")}
  }`;
}

/** Output rows and columns one workgroup covers. */
export const vec4Tile = (t: Vec4Tiles = VEC4_TILES): { rows: number; cols: number } => ({ rows: t.tm, cols: t.wg * t.tn });
