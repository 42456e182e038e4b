// Countdown: combine 3-4 numbers with + - * / (each exactly once) to reach a target.
// The standard RLVR toy task (TinyZero); here small enough for a character-level model.
import { formatTrace } from "./answer.js";
import { solveCountdown, reachableValues, expressionSteps } from "./countdown-solver.js";
import { slipSolution } from "./countdown-slips.js";
import { printExpr } from "./expr.js";
import { OptionReader } from "./options.js";
import { MAX_SPLIT_SIZE, SplitPool } from "./split-pool.js";
import { hash32, mixSeed, Rng, splitOf } from "./rng.js";
import { TaskSpecError, type Problem, type Split, type Task, type Verdict } from "./types.js";
import { verifyCountdown } from "./verifiers.js";

export interface CountdownProblem extends Problem {
  /** In the order shown in the prompt. */
  readonly numbers: readonly number[];
  readonly target: number;
}

export interface CountdownOptions {
  /** How many numbers per problem, inclusive range (2..5). */
  numbers: [number, number];
  /** Range of each number (integers >= 1). */
  values: [number, number];
  /** Range of the target (integers). */
  target: [number, number];
  /** Share of the problem space held out as the test split. */
  testFraction: number;
  /** Problems in the train / test split: 0 = the split's whole space, drawn on demand (split-pool.ts). */
  trainSize: number;
  testSize: number;
  /** Reward for a complete but wrong answer (the convention's format score). */
  formatReward: number;
  /**
   * Share of warm-start traces (trace(), used by `acpo sft`) in which one step misreads a
   * prompt number by one and carries it into a wrong answer (countdown-slips.ts). Rewards
   * and problems do not depend on it.
   */
  slipRate: number;
}

export const COUNTDOWN_DEFAULTS: CountdownOptions = { numbers: [3, 4], values: [1, 20], target: [1, 60], testFraction: 0.2, trainSize: 0, testSize: 0, formatReward: 0, slipRate: 0 };

export function countdownPrompt(numbers: readonly number[], target: number): string {
  return `Use ${numbers.join(" ")} once each with + - * / to make ${target}. Show steps, then <answer>equation</answer>.\n`;
}

/** Canonical key: the multiset of numbers (sorted) and the target; it alone decides the split. */
export function countdownKey(numbers: readonly number[], target: number): string {
  return `${[...numbers].sort((a, b) => a - b).join(",")}=${target}`;
}

export function readCountdownOptions(raw: Readonly<Record<string, unknown>>): CountdownOptions {
  const r = new OptionReader("countdown", raw);
  const o: CountdownOptions = {
    numbers: r.range("numbers", COUNTDOWN_DEFAULTS.numbers, { integer: true, min: 2, max: 5 }),
    values: r.range("values", COUNTDOWN_DEFAULTS.values, { integer: true, min: 1, max: 10_000 }),
    target: r.range("target", COUNTDOWN_DEFAULTS.target, { integer: true }),
    testFraction: r.number("testFraction", COUNTDOWN_DEFAULTS.testFraction, { min: 0, max: 1 }),
    trainSize: r.number("trainSize", COUNTDOWN_DEFAULTS.trainSize, { integer: true, min: 0, max: MAX_SPLIT_SIZE }),
    testSize: r.number("testSize", COUNTDOWN_DEFAULTS.testSize, { integer: true, min: 0, max: MAX_SPLIT_SIZE }),
    formatReward: r.number("formatReward", COUNTDOWN_DEFAULTS.formatReward, { min: 0, max: 1 }),
    slipRate: r.number("slipRate", COUNTDOWN_DEFAULTS.slipRate, { min: 0, max: 1 }),
  };
  r.finish();
  return o;
}

// A long run of draws that yield nothing new means the space (for this split and these
// options) is exhausted or empty; better to say so than to loop forever.
const MAX_FRUITLESS_DRAWS = 20_000;

export class CountdownTask implements Task<CountdownProblem> {
  readonly name = "countdown";
  readonly options: Readonly<CountdownOptions>;
  private readonly splits: SplitPool<CountdownProblem>;

  constructor(options: Partial<CountdownOptions> = {}) {
    this.options = readCountdownOptions(options as Record<string, unknown>);
    this.splits = new SplitPool("countdown", { train: this.options.trainSize, test: this.options.testSize }, (split, count, seed) => this.generate(split, count, seed));
  }

  /** `count` problems of `split`: fresh ones, or from the fixed split when it has a size. */
  problems(split: Split, count: number, seed: number): CountdownProblem[] {
    return this.splits.problems(split, count, seed);
  }

  size(split: Split): number | null {
    return this.splits.size(split);
  }

  /**
   * `count` distinct problems of `split`'s whole space, drawn under `seed`: numbers, then a
   * target uniformly among the in-range values they can reach, so every problem is solvable;
   * keeps those whose key hashes into `split`, without repeats.
   */
  private generate(split: Split, count: number, seed: number): CountdownProblem[] {
    const { numbers: [nlo, nhi], values: [vlo, vhi], target: [tlo, thi], testFraction } = this.options;
    const rng = new Rng(mixSeed(seed, `countdown/${split}`));
    const out: CountdownProblem[] = [];
    const seen = new Set<string>();
    let fruitless = 0;
    while (out.length < count) {
      if (fruitless++ > MAX_FRUITLESS_DRAWS) {
        throw new TaskSpecError(
          `task countdown: found only ${out.length} of ${count} distinct ${split} problems with these options; widen 'values' or 'target', or change 'testFraction'`,
        );
      }
      const n = rng.int(nlo, nhi);
      const nums = Array.from({ length: n }, () => rng.int(vlo, vhi));
      const targets = [...reachableValues(nums).keys()].filter((v) => v >= tlo && v <= thi).sort((a, b) => a - b);
      if (targets.length === 0) continue;
      const target = rng.pick(targets);
      const key = countdownKey(nums, target);
      if (seen.has(key) || splitOf(key, testFraction) !== split) continue;
      seen.add(key);
      out.push({ id: `countdown:${key}`, split, prompt: countdownPrompt(nums, target), numbers: nums, target });
      fruitless = 0;
    }
    return out;
  }

  verify(problem: CountdownProblem, response: string): Verdict {
    return verifyCountdown(problem.numbers, problem.target, response, this.options.formatReward);
  }

  /**
   * "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>" — one step per operation;
   * with probability slipRate one step misreads a number ("First, 8*3=24. ...").
   */
  trace(problem: CountdownProblem, seed = 0): string {
    return countdownTrace(problem.numbers, problem.target, seed, this.options.slipRate);
  }
}

export function countdownTrace(numbers: readonly number[], target: number, seed = 0, slipRate = 0): string {
  const e = solveCountdown(numbers, target);
  if (e === null) {
    throw new TaskSpecError(`countdown: ${numbers.join(" ")} -> ${target} has no solution with positive integer steps, so there is no trace to show`);
  }
  const rng = new Rng(hash32(countdownKey(numbers, target), seed >>> 0));
  // Drawn after the markers' generator is seeded, from its own stream, so clean traces
  // (slipRate 0) stay exactly what they were.
  const slipRng = new Rng(hash32(`slip/${countdownKey(numbers, target)}`, seed >>> 0));
  const slipped = slipRate > 0 && slipRng.next() < slipRate ? slipSolution(e, slipRng) : null;
  const shown = slipped?.expr ?? e;
  return formatTrace(expressionSteps(shown), printExpr(shown), rng);
}
