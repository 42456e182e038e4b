// Schedules: how the stage kernels spread work over lanes, kept apart from what they
// compute (Halide's algorithm vs schedule). A schedule never changes results: every
// reduction folds its elements into a fixed number of partial slots (SLOTS, an algorithm
// constant) in a fixed order, and the slots are combined by a fixed tree; the lane count
// only decides which lane fills which slot. test/compiler/backend/schedule.test.ts checks
// that two schedules give bit-identical outputs.

/** Partial sums per reduction: element k goes to slot k mod SLOTS. Part of the algorithm. */
export const SLOTS = 128;

export interface Schedule {
  /** Lanes per workgroup of the row kernels (prepass, loss head) and the reductions; a power of two <= SLOTS. */
  lanes: number;
  /** Lanes per workgroup of the elementwise kernels (per-level values, loss head without logits). */
  elementwise: number;
}

export const DEFAULT_SCHEDULE: Schedule = { lanes: 64, elementwise: 64 };

export function checkSchedule(s: Schedule): void {
  const pow2 = (x: number) => Number.isInteger(x) && x > 0 && (x & (x - 1)) === 0;
  if (!pow2(s.lanes) || s.lanes > SLOTS) throw new Error(`schedule: lanes must be a power of two <= ${SLOTS}, got ${s.lanes}`);
  if (!Number.isInteger(s.elementwise) || s.elementwise < 1 || s.elementwise > 256) throw new Error(`schedule: elementwise must be in 1..256, got ${s.elementwise}`);
}
