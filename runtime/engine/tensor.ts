// A Tensor is a GPU storage buffer with a shape. It owns no data on the CPU.
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
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Bytes the elements occupy, rounded up to whole 4-byte words (the underlying buffer may be larger). */
  get byteLength(): number {
    return Math.ceil((this.size * dtypeBytes(this.dtype)) / 4) * 4;
  }
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
