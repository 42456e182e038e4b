// Half-precision weights (`precision f16`): the matmul whose B operand (a linear layer's
// weight) is stored as f16, and the cast that refreshes that f16 copy from its f32 master.
//
// The product reads A (activations) as f32, widens each f16 element of B exactly to f32, and
// accumulates in f32: only the weights lose precision, once, when rounded. The schedule is
// per layout a small workgroup-memory tile on GPUs and a barrier-free loop on CPU rasterisers
// (no autotuning). The cast is exact bit arithmetic on
// u32 (round to nearest even, overflow to Infinity: matmul-f16.ref.ts), not WGSL's f16(),
// whose rounding of values between halves is left to the implementation.
import type { Gpu } from "../gpu.js";
import type { Binding, Kernel } from "../kernel.js";
import { type Tensor, flatView } from "../tensor.js";
import type { MatmulArgs } from "./matmul.js";
import { EPILOGUE, MATMUL_UNIFORMS, type MatmulShape, layoutName } from "./matmul/layout.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

/** What refuses half precision: an adapter without the WebGPU feature `shader-f16`. */
export class PrecisionError extends Error {
  override name = "PrecisionError";
}

/**
 * Throws unless the adapter's features include `shader-f16`. `setting` names where f16 was
 * asked for (e.g. "model { precision f16 }" or "--precision f16"), so the message says what to change.
 */
export function requireShaderF16(features: ReadonlySet<string>, adapter: string, setting: string): void {
  if (features.has("shader-f16")) return;
  throw new PrecisionError(
    `${setting}: this adapter (${adapter}) lacks the WebGPU feature 'shader-f16' that half-precision weights need; use precision f32 (the default) on this machine`,
  );
}

// ---- cast: f32 master -> f16 storage ----------------------------------------------------

const CAST_WG = 256;

/** WGSL twin of `f16Bits` in matmul-f16.ref.ts (keep the two in step). */
const F16_BITS = /* wgsl */ `
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let e = (b >> 23u) & 0xffu;
  let m = b & 0x7fffffu;
  if (e == 255u) { return sign | 0x7c00u | select(0u, 0x200u | (m >> 13u), m != 0u); }
  let ue = i32(e) - 127;
  if (ue > 15) { return sign | 0x7c00u; }
  if (ue >= -14) {
    let h = sign | (u32(ue + 15) << 10u) | (m >> 13u);
    let rest = m & 0x1fffu;
    return h + select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u));
  }
  if (ue < -25) { return sign; }
  let full = m | 0x800000u;
  let shift = u32(-(ue + 1));
  let h = full >> shift;
  let rest = full & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  return sign | (h + select(0u, 1u, rest > half || (rest == half && (h & 1u) == 1u)));
}`;

const castKernel: Kernel = {
  name: "cast_f32_to_f16",
  // The f16 tensor is written as u32 words, two halves each (low half first, as WGSL's array<f16> reads them).
  bindings: [{ name: "out", access: "read_write", type: "u32" }, { name: "x", access: "read" }],
  uniforms: [{ name: "n", type: "u32" }],
  workgroupSize: [CAST_WG, 1, 1],
  body: /* wgsl */ `
${F16_BITS}
fn main(${GRID_PARAMS}) {
  let w = ${FLAT_INDEX(CAST_WG)};
  let i = 2u * w;
  if (i >= u.n) { return; }
  var hi = 0u;
  if (i + 1u < u.n) { hi = f16_bits(x[i + 1u]); }
  out[w] = f16_bits(x[i]) | (hi << 16u);
}`,
};

/** Record out (f16) = x (f32) rounded to nearest even (see matmul-f16.ref.ts). */
export function castToF16(
  gpu: Gpu,
  out: Tensor, // (n) f16
  x: Tensor, // (n) f32
): void {
  if (out.dtype !== "f16" || x.dtype !== "f32") throw new Error(`castToF16: expects an f16 output and an f32 input, got ${out.dtype} '${out.label}' and ${x.dtype} '${x.label}'`);
  if (out.size !== x.size) throw new Error(`castToF16: '${out.label}' has ${out.size} elements, '${x.label}' ${x.size}`);
  if (x.size === 0) return;
  // Ranges (of whole element pairs, aligned for both dtypes) where the master exceeds one binding.
  for (const { start, count } of gpu.bindingRanges(x.size, [2, 4], `castToF16 '${x.label}'`, 2)) {
    gpu.dispatch(castKernel, [flatView(out, start, count), flatView(x, start, count)], { n: count }, grid1d(Math.ceil(count / 2), CAST_WG));
  }
}

/** The bits of an f16 tensor, read back (tests and checks; the training loop never reads them). */
export async function readHalfBits(gpu: Gpu, t: Tensor): Promise<Uint16Array> {
  if (t.dtype !== "f16") throw new Error(`readHalfBits: '${t.label}' is ${t.dtype}, not f16`);
  const words = await gpu.read(t); // byteLength rounds up to whole words
  return new Uint16Array(words.buffer, words.byteOffset, t.size).slice();
}

// ---- matmul with an f16 B operand -------------------------------------------------------

const T = 16; // output tile edge = workgroup edge = k-slab depth: one output per invocation

const BINDINGS: Binding[] = [
  { name: "c", access: "read_write" },
  { name: "a", access: "read" },
  { name: "b", access: "read", type: "f16" },
  { name: "bias", access: "read" },
];

/**
 * A 16x16 output tile per workgroup, one element per invocation, k-slabs of 16 staged through
 * workgroup memory (B widened to f32 as it is staged). Deliberately small: lavapipe compiles a
 * pipeline in time that grows with the unrolled code, and this kernel serves four layouts.
 */
function f16Kernel(s: MatmulShape): Kernel {
  // Invocation (x, y) stages A's element (row m0 + y, k k0 + x) and B's (k k0 + y, column n0 + x).
  const aIdx = s.transA ? "aBase + ka * u.M + ma" : "aBase + ma * u.K + ka";
  const bIdx = s.transB ? "bBase + nb * u.K + kb" : "bBase + kb * u.N + nb";
  return {
    name: `matmul_f16w_tiled${T}_${layoutName(s)}`,
    bindings: BINDINGS,
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [T, T, 1],
    enables: ["f16"],
    body: /* wgsl */ `
var<workgroup> As: array<f32, ${T * T}>; // [m][k]
var<workgroup> Bs: array<f32, ${T * T}>; // [k][n], widened from f16
${EPILOGUE}
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = u.rowOffset + wid.y * ${T}u;
  let n0 = wid.x * ${T}u;
  let aBase = wid.z * u.strideA;
  let bBase = wid.z * u.strideB;
  let m = m0 + lid.y;
  let n = n0 + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < u.K; k0 += ${T}u) {
    // Clamped indices keep every load in bounds; select() zeroes what lies outside the matrix.
    let ma = min(m, u.M - 1u); let ka = min(k0 + lid.x, u.K - 1u);
    let kb = min(k0 + lid.y, u.K - 1u); let nb = min(n, u.N - 1u);
    As[lid.y * ${T}u + lid.x] = select(0.0, a[${aIdx}], m < u.M && k0 + lid.x < u.K);
    Bs[lid.y * ${T}u + lid.x] = select(0.0, f32(b[${bIdx}]), k0 + lid.y < u.K && n < u.N);
    workgroupBarrier();
    for (var kk = 0u; kk < ${T}u; kk++) { acc = fma(As[lid.y * ${T}u + kk], Bs[kk * ${T}u + lid.x], acc); }
    workgroupBarrier();
  }
  if (m < u.M && n < u.N) { epilogue(wid.z * u.strideC + m * u.N + n, n, acc); }
}`,
  };
}

const NAIVE_WG = 8;

/**
 * One output per invocation, the k-loop straight from storage: no workgroup memory and no
 * barriers. On lavapipe (a CPU) barriers are what cost: measured at 256 x 896 x 896, this runs
 * in 2.4 s against 13.9 s for the tiled kernel (the f32 register schedule: 0.5 s).
 */
function f16NaiveKernel(s: MatmulShape): Kernel {
  const aIdx = s.transA ? "aBase + k * u.M + m" : "aBase + m * u.K + k";
  const bIdx = s.transB ? "bBase + n * u.K + k" : "bBase + k * u.N + n";
  return {
    name: `matmul_f16w_naive_${layoutName(s)}`,
    bindings: BINDINGS,
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [NAIVE_WG, NAIVE_WG, 1],
    enables: ["f16"],
    body: /* wgsl */ `
${EPILOGUE}
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m = u.rowOffset + gid.y;
  let n = gid.x;
  if (m >= u.M || n >= u.N) { return; }
  let aBase = wid.z * u.strideA;
  let bBase = wid.z * u.strideB;
  var acc = 0.0;
  for (var k = 0u; k < u.K; k++) { acc = fma(a[${aIdx}], f32(b[${bIdx}]), acc); }
  epilogue(wid.z * u.strideC + m * u.N + n, n, acc);
}`,
  };
}

/** The two f16 schedules: workgroup-memory tiles for GPUs, the barrier-free loop for CPU rasterisers. */
export type F16Schedule = "tiled" | "naive";

const SCHEDULES: Record<F16Schedule, { kernel: (s: MatmulShape) => Kernel; tile: number }> = {
  tiled: { kernel: f16Kernel, tile: T },
  naive: { kernel: f16NaiveKernel, tile: NAIVE_WG },
};

/** `variant` "naive" or "tiled" picks a schedule (tests); otherwise naive on software adapters, tiled elsewhere. */
export function f16Schedule(gpu: Gpu, variant: string | undefined): F16Schedule {
  if (variant === "naive" || variant === "tiled") return variant;
  return gpu.info.isSoftware ? "naive" : "tiled";
}

const kernels = new Map<string, Kernel>();
function kernelFor(schedule: F16Schedule, s: MatmulShape): Kernel {
  const key = `${schedule}:${layoutName(s)}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = SCHEDULES[schedule].kernel(s)));
  return k;
}

const MAX_GROUPS = 65535;

/**
 * Record out = alpha * op(A) @ op(B) + beta * out (+ bias) with B stored as f16 (matmul.ts
 * sends every call with an f16 B here, after checking sizes and aliasing). Same arguments
 * and layouts as `matmul`; `variant` "naive" or "tiled" picks the schedule (f16Schedule).
 */
export function matmulF16(
  gpu: Gpu,
  out: Tensor, // (batch, M, N) f32
  a: Tensor, // (batch, M, K) f32, or (batch, K, M) with transA
  b: Tensor, // (batch, K, N) f16, or (batch, N, K) with transB
  args: MatmulArgs,
): void {
  const { M, N, K, batch = 1, transA = false, transB = false, alpha = 1, beta = 0, bias = null } = args;
  if (b.dtype !== "f16" || a.dtype !== "f32" || out.dtype !== "f32") {
    throw new Error(`matmulF16: expects f32 out and A with an f16 B, got ${out.dtype} '${out.label}', ${a.dtype} '${a.label}', ${b.dtype} '${b.label}'`);
  }
  if (!gpu.device.features.has("shader-f16")) requireShaderF16(gpu.device.features as ReadonlySet<string>, gpu.info.description || gpu.info.device, `matmul '${b.label}'`);
  const strideA = args.strideA ?? M * K, strideB = args.strideB ?? K * N, strideC = args.strideC ?? M * N;
  if (M === 0 || N === 0 || batch === 0) return;
  const shape = { transA, transB };
  const schedule = f16Schedule(gpu, args.variant);
  const kernel = kernelFor(schedule, shape);
  const tile = SCHEDULES[schedule].tile;
  // Without a bias, A stands in for the (unread) f32 bias binding.
  const buffers = [out, a, b, bias ?? a];
  const groupsX = Math.ceil(N / tile);
  if (groupsX > MAX_GROUPS) throw new Error(`matmulF16: N = ${N} needs ${groupsX} workgroups across, more than ${MAX_GROUPS}`);
  const rowsPerDispatch = MAX_GROUPS * tile;
  for (let rowOffset = 0; rowOffset < M; rowOffset += rowsPerDispatch) {
    const rows = Math.min(rowsPerDispatch, M - rowOffset);
    const uniforms = { M, N, K, strideA, strideB, strideC, rowOffset, alpha, beta, hasBias: bias ? 1 : 0 };
    gpu.dispatch(kernel, buffers, uniforms, [groupsX, Math.ceil(rows / tile), batch]);
  }
}
