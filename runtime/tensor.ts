// A Tensor is a GPU storage buffer with a shape. It owns no data on the CPU.
import type { ScalarType } from "./kernel.js";

export type DType = ScalarType;

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

  /** Bytes the elements occupy (the underlying buffer may be larger). */
  get byteLength(): number {
    return this.size * 4;
  }
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
