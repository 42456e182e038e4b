// Batched matmul with transposes, alpha/beta and a bias epilogue:
//   out[b] = alpha * op(A[b]) @ op(B[b]) + beta * out[b] (+ bias),  out (batch, M, N).
// op(A) is (M, K): A is stored (M, K), or (K, M) with transA. op(B) is (K, N): B is stored
// (K, N), or (N, K) with transB. Per-operand batch strides let one weight serve the whole
// batch (stride 0). The algorithm is fixed; *how* it runs is a schedule ("variant") picked
// per adapter: workgroup-memory tiles on GPUs, register blocking on CPU rasterisers. A
// variant only reorders the k-sum, so results agree to fp32 rounding.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import type { MatmulShape } from "./matmul/layout.js";
import { naiveKernel, naiveTile } from "./matmul/naive.js";
import { registerKernel, registerTile } from "./matmul/register.js";
import { SUBGROUP_VEC4_TALL_TILES, SUBGROUP_VEC4_TILES, registerVec4Kernel, vec4Applies, vec4Tile } from "./matmul/register-vec4.js";
import { tiledKernel, tiledTile } from "./matmul/tiled.js";

export { sumRows } from "./matmul/sum-rows.js";
export { linearBackward, linearForward } from "./matmul/linear.js";
export { matmulBackward } from "./matmul/backward.js";

export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  /** Number of independent products; default 1. */
  batch?: number;
  /** A stored (K, M) instead of (M, K). */
  transA?: boolean;
  /** B stored (N, K) instead of (K, N). */
  transB?: boolean;
  /** Elements between consecutive batch items; 0 shares one matrix across the batch. Defaults: dense. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  /** 0 (default) overwrites out without reading it; 1 accumulates into it. */
  beta?: number;
  /** (N), added to every row after alpha/beta scaling. */
  bias?: Tensor | null;
  /** Schedule override; default: `matmulVariant(gpu)`. */
  variant?: MatmulVariant;
}

interface Plan {
  /** Memo key: which kernel of the schedule. */
  key: string;
  kernel: () => Kernel;
  /** Output rows and columns one workgroup covers. */
  tile: { rows: number; cols: number };
}

type Dims = { M: number; N: number; K: number; strideA: number; strideB: number; subgroups: boolean };
const fixed = (name: string, kernel: (s: MatmulShape) => Kernel, tile: Plan["tile"]) => (s: MatmulShape): Plan => ({ key: name, kernel: () => kernel(s), tile });

export type MatmulVariant = "naive" | "tiled" | "register" | "register-vec4" | "register-scalar";

const SCHEDULES: Record<MatmulVariant, (s: MatmulShape, d: Dims) => Plan> = {
  naive: fixed("naive", naiveKernel, naiveTile),
  tiled: fixed("tiled", tiledKernel, tiledTile),
  /**
   * CPU adapters: 16-byte loads where the layout allows (with A's loads shared through
   * subgroup broadcasts where the device has subgroups of >= 8 lanes), else the scalar form.
   */
  register: (s: MatmulShape, d: Dims): Plan => {
    if (!d.subgroups || !vec4Applies(s, d.M, d.N, d.K, d.strideA, d.strideB)) return SCHEDULES["register-vec4"](s, d);
    // 32-row tiles load fewer floats per FMA (see SUBGROUP_VEC4_TALL_TILES) where the output has the rows to fill them.
    const tall = d.M >= SUBGROUP_VEC4_TALL_TILES.tm;
    const tiles = tall ? SUBGROUP_VEC4_TALL_TILES : SUBGROUP_VEC4_TILES;
    return { key: `register-vec4-sg${tiles.tm}`, kernel: () => registerVec4Kernel(s, tiles), tile: vec4Tile(tiles) };
  },
  /** The register schedule without subgroup operations. */
  "register-vec4": (s: MatmulShape, d: Dims): Plan =>
    vec4Applies(s, d.M, d.N, d.K, d.strideA, d.strideB)
      ? { key: "register-vec4", kernel: () => registerVec4Kernel(s), tile: vec4Tile() }
      : fixed("register-scalar", registerKernel, registerTile)(s),
  "register-scalar": fixed("register-scalar", registerKernel, registerTile),
};

export const MATMUL_VARIANTS = Object.keys(SCHEDULES) as MatmulVariant[];

/**
 * The schedule for this adapter: ACPO_MATMUL=<variant> if set (tests and benchmarks),
 * else register blocking on software adapters and workgroup-memory tiles elsewhere.
 */
export function matmulVariant(gpu: Gpu): MatmulVariant {
  const env = process.env.ACPO_MATMUL;
  if (env) {
    if (!(env in SCHEDULES)) throw new Error(`ACPO_MATMUL=${env}: unknown matmul variant; choose one of ${MATMUL_VARIANTS.join(", ")}`);
    return env as MatmulVariant;
  }
  return gpu.info.isSoftware ? "register" : "tiled";
}

/** Subgroup operations with at least 8 lanes per subgroup (what the subgroup schedules assume). */
export function hasSubgroups8(gpu: Gpu): boolean {
  return gpu.device.features.has("subgroups") && gpu.info.subgroupSize[0] >= 8;
}

const kernels = new Map<string, Kernel>();
function kernelFor(plan: Plan, s: MatmulShape): Kernel {
  const key = `${plan.key}:${+s.transA}${+s.transB}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = plan.kernel()));
  return k;
}

const MAX_GROUPS = 65535;

/** Record out = alpha * op(A) @ op(B) + beta * out (+ bias). See the file header for layouts. */
export function matmul(
  gpu: Gpu,
  out: Tensor, // (batch, M, N)
  a: Tensor, // (batch, M, K), or (batch, K, M) with transA
  b: Tensor, // (batch, K, N), or (batch, N, K) with transB
  args: MatmulArgs,
): void {
  const { M, N, K, batch = 1, transA = false, transB = false, alpha = 1, beta = 0, bias = null } = args;
  const strideA = args.strideA ?? M * K;
  const strideB = args.strideB ?? K * N;
  const strideC = args.strideC ?? M * N;
  for (const [name, v] of Object.entries({ M, N, K, batch, strideA, strideB, strideC })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${name} must be a non-negative integer, got ${v}`);
  }
  const need = (stride: number, size: number): number => (batch - 1) * stride + size;
  check("out", out, need(strideC, M * N));
  check("a", a, need(strideA, M * K));
  check("b", b, need(strideB, K * N));
  if (bias) check("bias", bias, N);
  if (out.buffer === a.buffer || out.buffer === b.buffer || (bias && out.buffer === bias.buffer)) {
    throw new Error("matmul: out must not alias an input (WebGPU forbids a writable binding that overlaps a readable one)");
  }
  if (strideC < M * N && batch > 1) throw new Error("matmul: strideC smaller than M*N would make batch items overwrite each other");
  if (batch > MAX_GROUPS) throw new Error(`matmul: batch ${batch} exceeds ${MAX_GROUPS}; split it into several calls`);
  if (M === 0 || N === 0 || batch === 0) return;

  const variant = args.variant ?? matmulVariant(gpu);
  const shape = { transA, transB };
  const plan = SCHEDULES[variant](shape, { M, N, K, strideA, strideB, subgroups: hasSubgroups8(gpu) });
  const { tile } = plan;
  const kernel = kernelFor(plan, shape);
  // Without a bias, B stands in for the (unread) bias binding: two read-only bindings may share a buffer.
  const buffers = [out, a, b, bias ?? b];
  const groupsX = Math.ceil(N / tile.cols);
  if (groupsX > MAX_GROUPS) throw new Error(`matmul: N = ${N} needs ${groupsX} workgroups across, more than ${MAX_GROUPS}`);
  // Row blocks beyond 65535 workgroups go in further dispatches, each starting at rowOffset.
  const rowsPerDispatch = MAX_GROUPS * tile.rows;
  for (let rowOffset = 0; rowOffset < M; rowOffset += rowsPerDispatch) {
    const rows = Math.min(rowsPerDispatch, M - rowOffset);
    const uniforms = { M, N, K, strideA, strideB, strideC, rowOffset, alpha, beta, hasBias: bias ? 1 : 0 };
    gpu.dispatch(kernel, buffers, uniforms, [groupsX, Math.ceil(rows / tile.rows), batch]);
  }
}

function check(name: string, t: Tensor, elements: number): void {
  if (t.size < elements) throw new Error(`matmul: '${name}' has ${t.size} elements, the arguments need ${elements}`);
}
