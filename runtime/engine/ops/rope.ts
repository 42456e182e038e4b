// Rotary position embedding with Hugging Face Llama / Qwen2 semantics ("rotate_half"):
// the head dimension D is split into two halves (not interleaved pairs), and for
// i < D/2, with angle a = pos * inv_freq[i], inv_freq[i] = 1 / theta^(2i/D):
//   out[i]       = x[i] * cos(a) - x[i + D/2] * sin(a)
//   out[i + D/2] = x[i + D/2] * cos(a) + x[i] * sin(a)
// Backward is the inverse rotation (angle -a), applied to dout.
//
// The cos/sin tables are computed once on the CPU and uploaded (createRopeTables): HF
// forms the angle as an fp32 product pos * inv_freq (we round it the same way, so large
// positions land on the same fp32 angle as HF), then takes fp32 cos/sin of it, which are
// correctly rounded to within an ulp. We evaluate cos/sin in float64 and round to fp32,
// matching that; WGSL's sin/cos have no accuracy guarantee outside [-pi, pi], and angles
// here reach thousands of radians, so computing them on the GPU would not match HF.
//
// Positions come per token from a u32 tensor (B*T), so decoding (T = 1 at position p)
// and right-padded batches whose rows have different lengths use the same kernel.
// A position >= maxPos (outside the table) writes NaN, so the error cannot pass silently.
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import type { Tensor } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

/** inv_freq[i] = 1 / theta^(2i/D) in fp32, as HF's default rope computes it (exponent in fp32, then fp32 pow and divide). */
export function ropeInvFreq(D: number, theta: number): Float32Array {
  if (D % 2 !== 0) throw new Error(`rope: head dim D=${D} must be even`);
  const half = D / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround((2 * i) / D);
    inv[i] = Math.fround(1 / Math.fround(theta ** exponent));
  }
  return inv;
}

/** Llama 3 rope scaling parameters (HF rope_type "llama3"). */
export interface RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

/**
 * HF's _compute_llama3_parameters on fp32 inv_freq, each operation rounded to fp32 as torch
 * computes it: wavelengths above original/low_freq_factor are slowed by `factor`, those below
 * original/high_freq_factor kept, and those between interpolated by
 * s = (original / wavelen - low) / (high - low): (1 - s) * f / factor + s * f.
 */
export function llama3InvFreq(inv: Float32Array, r: RopeScaling): Float32Array {
  const f = Math.fround;
  const lowWave = r.originalMaxPositions / r.lowFreqFactor, highWave = r.originalMaxPositions / r.highFreqFactor;
  return inv.map((x) => {
    const wavelen = f(f(2 * Math.PI) / x);
    const scaled = wavelen > lowWave ? f(x / r.factor) : x;
    const medium = !(wavelen < highWave) && !(wavelen > lowWave);
    if (!medium) return scaled;
    const smooth = f(f(f(r.originalMaxPositions / wavelen) - r.lowFreqFactor) / f(r.highFreqFactor - r.lowFreqFactor));
    return f(f(f(f(1 - smooth) * scaled) / r.factor) + f(smooth * scaled));
  });
}

/** cos and sin tables, each (maxPos, D/2), row p holding cos/sin(fp32(p * inv_freq[i])). */
export function ropeTableData(maxPos: number, D: number, theta: number, scaling: RopeScaling | null = null): { cos: Float32Array; sin: Float32Array } {
  const inv = scaling ? llama3InvFreq(ropeInvFreq(D, theta), scaling) : ropeInvFreq(D, theta);
  const half = D / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * inv[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export interface RopeTables {
  cos: Tensor; // (maxPos, D/2)
  sin: Tensor; // (maxPos, D/2)
  maxPos: number;
  D: number;
}

/** Upload the tables once per model (config: head_dim, rope_theta, max_position_embeddings). */
export function createRopeTables(gpu: Gpu, opts: { maxPos: number; D: number; theta: number; scaling?: RopeScaling | null }): RopeTables {
  const { cos, sin } = ropeTableData(opts.maxPos, opts.D, opts.theta, opts.scaling ?? null);
  const half = opts.D / 2;
  return {
    cos: gpu.upload(cos, [opts.maxPos, half], "rope_cos"),
    sin: gpu.upload(sin, [opts.maxPos, half], "rope_sin"),
    maxPos: opts.maxPos,
    D: opts.D,
  };
}

/** In place, x is the only read_write binding (WebGPU forbids binding a buffer as both read and read_write). */
function makeKernel(inPlace: boolean): Kernel {
  const bindings: Kernel["bindings"] = inPlace
    ? [{ name: "x", access: "read_write" }]
    : [
        { name: "out", access: "read_write" },
        { name: "x", access: "read" },
      ];
  bindings.push({ name: "pos", access: "read", type: "u32" }, { name: "cosT", access: "read" }, { name: "sinT", access: "read" });
  const dst = inPlace ? "x" : "out";
  return {
    name: inPlace ? "rope_inplace" : "rope",
    bindings,
    uniforms: [
      { name: "n", type: "u32" }, // B * T * H * D/2 rotations
      { name: "H", type: "u32" },
      { name: "half", type: "u32" },
      { name: "maxPos", type: "u32" },
      { name: "sgn", type: "f32" }, // +1 forward, -1 backward (inverse rotation)
    ],
    workgroupSize: [WG, 1, 1],
    body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let idx = ${FLAT_INDEX(WG)};
  if (idx >= u.n) { return; }
  let i = idx % u.half;
  let row = idx / u.half; // (b, t, h) flattened
  let p = pos[row / u.H];
  let base = row * 2u * u.half;
  let x1 = x[base + i];
  let x2 = x[base + i + u.half];
  if (p >= u.maxPos) {
    let nan = bitcast<f32>(0x7fc00000u + min(p, 0u)); // runtime NaN (a constant NaN is a WGSL error)
    ${dst}[base + i] = nan;
    ${dst}[base + i + u.half] = nan;
    return;
  }
  let c = cosT[p * u.half + i];
  let s = u.sgn * sinT[p * u.half + i];
  ${dst}[base + i] = x1 * c - x2 * s;
  ${dst}[base + i + u.half] = x2 * c + x1 * s;
}`,
  };
}

const kernels = { out: makeKernel(false), inPlace: makeKernel(true) };

export interface RopeSizes {
  B: number;
  T: number;
  H: number; // heads in x (query or key/value heads)
  D: number; // head dim, even
}

function run(name: string, gpu: Gpu, out: Tensor, x: Tensor, pos: Tensor, tables: RopeTables, sizes: RopeSizes, sgn: number): void {
  const { B, T, H, D } = sizes;
  if (D !== tables.D) throw new Error(`${name}: head dim D=${D} but tables were built for D=${tables.D}`);
  const n = B * T * H * D;
  if (x.size !== n || out.size !== n) throw new Error(`${name}: x/out must hold B*T*H*D = ${n} elements, got ${x.size}/${out.size}`);
  if (pos.dtype !== "u32" || pos.size !== B * T) throw new Error(`${name}: positions must be a u32 tensor of B*T = ${B * T} elements`);
  const half = D / 2;
  const uniforms = { n: n / 2, H, half, maxPos: tables.maxPos, sgn };
  const grid = grid1d(n / 2, WG);
  if (out === x) gpu.dispatch(kernels.inPlace, [x, pos, tables.cos, tables.sin], uniforms, grid);
  else gpu.dispatch(kernels.out, [out, x, pos, tables.cos, tables.sin], uniforms, grid);
}

/** out = rope(x) at per-token positions. `out` may be `x` (in place). */
export function ropeForward(
  gpu: Gpu,
  out: Tensor, // (B, T, H, D)
  x: Tensor, // (B, T, H, D)
  pos: Tensor, // (B*T) u32, each < tables.maxPos
  tables: RopeTables,
  sizes: RopeSizes,
): void {
  run("ropeForward", gpu, out, x, pos, tables, sizes, 1);
}

/** dx = rope^-1(dout): the rotation is orthogonal, so its transpose is the inverse rotation. `dx` may be `dout`. */
export function ropeBackward(
  gpu: Gpu,
  dx: Tensor, // (B, T, H, D)
  dout: Tensor, // (B, T, H, D)
  pos: Tensor, // (B*T) u32
  tables: RopeTables,
  sizes: RopeSizes,
): void {
  run("ropeBackward", gpu, dx, dout, pos, tables, sizes, -1);
}
