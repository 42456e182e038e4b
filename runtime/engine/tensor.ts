// A Tensor is a GPU storage buffer with a shape. It owns no data on the CPU.
// A view is a Tensor over a byte range of another tensor's buffer (`byteOffset`): the
// kernels bind just that range, so that a weight larger than one storage binding
// (a 151,936 x 896 f32 embedding is 544 MiB, lavapipe binds 128 MiB) keeps ONE buffer
// while its kernels run range by range (gpu.ts `bindingRanges`).
import type { ScalarType } from "./kernel.js";

/** Element types of tensors: "f16" only for half-precision weights (2 bytes each, read by matmul-f16.ts). */
export type DType = ScalarType | "f16";

/** Bytes per element of a dtype. */
export const dtypeBytes = (d: DType): number => (d === "f16" ? 2 : 4);

export class Tensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = "f32",
    /** Label used in error messages and GPU debug tools. */
    readonly label = "tensor",
    /** Where the elements start in `buffer` (0 for a whole tensor; a view's start otherwise). */
    readonly byteOffset = 0,
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Bytes the elements occupy, rounded up to whole 4-byte words (the underlying buffer may be larger). */
  get byteLength(): number {
    return Math.ceil((this.size * dtypeBytes(this.dtype)) / 4) * 4;
  }

  /** Whether this tensor is a range of a larger buffer, bound by range rather than whole. */
  get isView(): boolean {
    return this.byteOffset !== 0;
  }
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Rows r0..r0+rows of `t` (its first dimension) as a view sharing t's buffer. The caller keeps
 * the byte offset aligned to the device's minStorageBufferOffsetAlignment (gpu.ts plans ranges so).
 */
export function rowView(t: Tensor, r0: number, rows: number): Tensor {
  const rowElems = numel(t.shape.slice(1));
  if (!(Number.isInteger(r0) && Number.isInteger(rows) && r0 >= 0 && rows >= 0 && r0 + rows <= (t.shape[0] ?? 1))) {
    throw new Error(`rowView '${t.label}': rows ${r0}..${r0 + rows} are outside its ${t.shape[0]} rows`);
  }
  if (r0 === 0 && rows === t.shape[0]) return t;
  return new Tensor(t.buffer, [rows, ...t.shape.slice(1)], t.dtype, `${t.label}[${r0}:${r0 + rows}]`, t.byteOffset + r0 * rowElems * dtypeBytes(t.dtype));
}

/** Elements e0..e0+n of `t`, flattened, as a view (see `rowView` for the alignment). */
export function flatView(t: Tensor, e0: number, n: number): Tensor {
  if (e0 === 0 && n === t.size) return t;
  return rowView(new Tensor(t.buffer, [t.size], t.dtype, t.label, t.byteOffset), e0, n);
}
