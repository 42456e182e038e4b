// Wall-clock timing of GPU work: run once to warm up (pipeline compiles, buffer pools),
// then time each repetition of run + sync separately and report the median, which holds
// up when other processes share the machine.

export interface Timing {
  /** Median seconds per repetition. */
  median: number;
  /** Fastest repetition, seconds. */
  min: number;
  reps: number;
}

/**
 * Time `once` (which must wait for its own completion) after `warmup` untimed runs,
 * repeating until `minSeconds` have passed and at least `minReps` repetitions ran.
 */
export async function timeIt(once: () => Promise<void>, opts: { warmup?: number; minSeconds?: number; minReps?: number; maxReps?: number } = {}): Promise<Timing> {
  const { warmup = 1, minSeconds = 1, minReps = 3, maxReps = 1000 } = opts;
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxReps && (times.length < minReps || performance.now() - start < minSeconds * 1000)) {
    const t0 = performance.now();
    await once();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]!, reps: times.length };
}

export const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : "-");
export const ratio = (ours: number, theirs: number): string => (Number.isFinite(ours) && Number.isFinite(theirs) && theirs > 0 ? `${(ours / theirs).toFixed(2)}x` : "-");
