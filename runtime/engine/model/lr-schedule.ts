// Learning-rate schedules for AdamW (SFT and the RL loop): linear warm-up, then constant,
// linear or cosine decay to a floor.

export interface LrSchedule {
  lr: number;
  warmupSteps: number;
  /** "cosine" / "linear" decay to lr * minRatio at totalSteps; "constant" stays at lr. */
  decay: "cosine" | "linear" | "constant";
  totalSteps: number;
  minRatio: number;
}

/** Learning rate for step (1-based). */
export function lrAt(s: LrSchedule, step: number): number {
  if (s.warmupSteps > 0 && step <= s.warmupSteps) return (s.lr * step) / s.warmupSteps;
  if (s.decay === "constant") return s.lr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  const shape = s.decay === "linear" ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return s.lr * (s.minRatio + (1 - s.minRatio) * shape);
}
