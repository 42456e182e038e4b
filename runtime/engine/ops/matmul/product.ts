// The batched product itself: the schedule table, the choice of schedule per call (override,
// tuned, default), timing for the tuner, and the dispatch. The facade ../matmul.ts re-exports
// it with the derived ops (linear.ts, backward.ts), which import this leaf module, not the
// facade, so that no import cycle runs through ../matmul.ts. See ../matmul.ts for layouts.
import { KernelError } from "../../errors.js";
import type { Gpu } from "../../gpu.js";
import type { Kernel } from "../../kernel.js";
import type { Tensor } from "../../tensor.js";
import type { MatmulShape } from "./layout.js";
import { naiveKernel, naiveTile } from "./naive.js";
import { registerKernel, registerTile } from "./register.js";
import { SUBGROUP_VEC4_TALL_TILES, SUBGROUP_VEC4_TILES, registerVec4Kernel, vec4Applies, vec4Tile } from "./register-vec4.js";
import { tiledKernel, tiledTile } from "./tiled.js";
import { matmulF16 } from "../matmul-f16.js";
import { type MatmulDims, MatmulTuner, type MeasureSchedule, type TunedEntry, adapterKey, autotuneEnabled, tuningCachePath } from "../matmul-autotune.js";

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
  /** Schedule override; default: `chooseMatmulVariant` (ACPO_MATMUL, else tuned, else `matmulVariant(gpu)`). */
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
 * The untuned schedule for this adapter: ACPO_MATMUL=<variant> if set (tests and
 * benchmarks), else register blocking on software adapters and workgroup-memory tiles elsewhere.
 */
export function matmulVariant(gpu: Gpu): MatmulVariant {
  return envVariant() ?? defaultVariant(gpu);
}

function envVariant(): MatmulVariant | null {
  const env = process.env.ACPO_MATMUL;
  if (!env) return null;
  if (!(env in SCHEDULES)) throw new Error(`ACPO_MATMUL=${env}: unknown matmul variant; choose one of ${MATMUL_VARIANTS.join(", ")}`);
  return env as MatmulVariant;
}

const defaultVariant = (gpu: Gpu): MatmulVariant => (gpu.info.isSoftware ? "register" : "tiled");

/**
 * The schedule for one call: ACPO_MATMUL if set; else, unless ACPO_AUTOTUNE=0, the one
 * measured fastest for this adapter and shape class (a class not measured yet becomes
 * pending for `tuneMatmuls`); else the adapter's default.
 */
export function chooseMatmulVariant(gpu: Gpu, d: MatmulDims): MatmulVariant {
  const forced = envVariant();
  if (forced) return forced;
  if (!autotuneEnabled()) return defaultVariant(gpu);
  return (matmulTuner(gpu).lookup(d) as MatmulVariant | null) ?? defaultVariant(gpu);
}

/**
 * Schedules the tuner times for a call, the default first (it wins ties): each distinct kernel
 * once (on an adapter without subgroups 'register' and 'register-vec4' are the same kernel).
 * 'naive' is left out: it exists as the simplest correct form, never as the fastest.
 */
export function tuningCandidates(gpu: Gpu, d: MatmulDims): MatmulVariant[] {
  const first = defaultVariant(gpu);
  const order = [first, ...MATMUL_VARIANTS.filter((v) => v !== first && v !== "naive")];
  const dims = { ...d, subgroups: hasSubgroups8(gpu) };
  const seen = new Set<string>();
  return order.filter((v) => {
    const key = SCHEDULES[v]({ transA: d.transA, transB: d.transB }, dims).key;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const tuners = new WeakMap<Gpu, MatmulTuner>();

/** The device's tuner (cache file per the environment when first asked). */
export function matmulTuner(gpu: Gpu): MatmulTuner {
  let t = tuners.get(gpu);
  if (!t) tuners.set(gpu, (t = new MatmulTuner(adapterKey(gpu.info), tuningCachePath(), (d) => tuningCandidates(gpu, d))));
  return t;
}

/**
 * Time the schedules of every shape class met since the last call and not in the cache, and
 * keep the fastest (in memory and on disk). Waits for the GPU; call it where the caller may
 * wait. A no-op when nothing is pending, ACPO_MATMUL is set or ACPO_AUTOTUNE=0.
 */
export async function tuneMatmuls(gpu: Gpu, o: { measure?: MeasureSchedule; log?: (msg: string) => void; busy?: () => string | null } = {}): Promise<string[]> {
  if (envVariant() || !autotuneEnabled()) return [];
  return matmulTuner(gpu).tunePending(o.measure ?? ((v, d, best) => timeOrSkip(gpu, v as MatmulVariant, d, best)), o.log, o.busy);
}

/**
 * A candidate this adapter cannot compile or run (a validation or compilation error) is
 * not a candidate here: one warning, and an infinite time. A lost device still ends the run.
 */
async function timeOrSkip(gpu: Gpu, variant: MatmulVariant, d: MatmulDims, bestSoFarMs: number): Promise<number> {
  try {
    return await timeSchedule(gpu, variant, d, bestSoFarMs);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    process.stderr.write(`acpo: matmul schedule '${variant}' failed on this adapter while being timed, so it is not used (${e.message.split("\n")[0]})\n`);
    return Infinity;
  }
}

/** What `acpo doctor` shows: the override, whether tuning is on, the cache file and the adapter's tuned classes. */
export function matmulScheduleReport(gpu: Gpu): { override: MatmulVariant | null; autotune: boolean; default: MatmulVariant; cache: string; tuned: Record<string, TunedEntry> } {
  const override = envVariant();
  const autotune = autotuneEnabled();
  const on = autotune && !override;
  return { override, autotune, default: defaultVariant(gpu), cache: on ? matmulTuner(gpu).path : tuningCachePath(), tuned: on ? { ...matmulTuner(gpu).entries() } : {} };
}

/** Scratch operands beyond this many bytes are not allocated for timing: the class keeps the default. */
const MAX_SCRATCH_BYTES = 256 * 2 ** 20;

/**
 * Milliseconds per dispatch of one schedule on zero-filled scratch operands of the call's
 * sizes (zeros: no denormal slow paths). The pipeline is compiled first (seconds on lavapipe,
 * not part of the time); a first run that is already twice the best schedule's time ends the
 * measurement, else up to three more runs, stopping once one is 1.5x slower than the best so
 * far. The minimum is kept: on a shared machine it is the least disturbed run.
 */
async function timeSchedule(gpu: Gpu, variant: MatmulVariant, d: MatmulDims, bestSoFarMs: number): Promise<number> {
  const sizes = [(d.batch - 1) * d.strideA + d.M * d.K, (d.batch - 1) * d.strideB + d.K * d.N, d.batch * d.M * d.N];
  if (4 * sizes.reduce((s, n) => s + n, 0) > MAX_SCRATCH_BYTES) return variant === defaultVariant(gpu) ? 0 : Infinity;
  const shape = { transA: d.transA, transB: d.transB };
  await gpu.compile(kernelFor(SCHEDULES[variant](shape, { ...d, subgroups: hasSubgroups8(gpu) }), shape));
  const [a, b, c] = sizes.map((n) => gpu.zeros([Math.max(1, n)], "matmul tuning"));
  try {
    const run = async (): Promise<number> => {
      const t0 = performance.now();
      matmul(gpu, c!, a!, b!, { ...d, variant });
      await gpu.sync();
      return performance.now() - t0;
    };
    await gpu.sync();
    let best = await run();
    if (best > 2 * bestSoFarMs) return best;
    for (let i = 0; i < 3 && best <= 1.5 * bestSoFarMs; i++) best = Math.min(best, await run());
    return best;
  } finally {
    gpu.release(a, b, c);
  }
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
  // Half-precision weights (`precision f16`) have their own kernel: f16 B, f32 accumulation.
  if (b.dtype === "f16") return matmulF16(gpu, out, a, b, args);

  const variant = args.variant ?? chooseMatmulVariant(gpu, { M, N, K, batch, transA, transB, strideA, strideB });
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
