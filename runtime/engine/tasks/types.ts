// The contract between a task and the RL loop: problems to prompt with, a verifier that
// turns a response into a reward, and worked solutions for warm start (SFT).

export type Split = "train" | "test";

/** One problem instance. Tasks extend it with whatever their verifier needs. */
export interface Problem {
  /** Stable identity: the same problem always has the same id (used for hashing, logs, curricula). */
  readonly id: string;
  readonly split: Split;
  /** Text the policy is conditioned on; the response is sampled right after it. */
  readonly prompt: string;
}

/** What a verifier says about one response. */
export interface Verdict {
  /** Scalar reward for RL: 1 when correct, the task's format reward when only the format was right, else 0. */
  reward: number;
  correct: boolean;
  /** Content of the last `<answer>...</answer>` (trimmed), or null when there was none. */
  answer: string | null;
  /** Human-readable reason, for samples.jsonl and debugging ("correct", "division by zero", ...). */
  reason: string;
}

export interface Task<P extends Problem = Problem> {
  readonly name: string;
  /** Every option with its default filled in (written to config.resolved.json). */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * `count` distinct problems of `split`, a pure function of (options, split, count, seed).
   * Train and test never share a problem. Throws when the split holds fewer than `count`.
   */
  problems(split: Split, count: number, seed: number): P[];
  /** Number of distinct problems in `split`, or null when generated on demand from a large space. */
  size(split: Split): number | null;
  /** Scores `response` (the sampled text after the prompt). Never throws on any string. */
  verify(problem: P, response: string): Verdict;
  /** A worked, step-by-step solution ending in `<answer>...</answer>`; `seed` varies the wording. */
  trace(problem: P, seed?: number): string;
}

/** A task spec that cannot be turned into a task: unknown name or option, bad value, bad file. */
export class TaskSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskSpecError";
  }
}
