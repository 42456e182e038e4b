// arith: a chain of 2-6 integer operations applied left to right, e.g. "7+5*2-3" = 21.
// Every intermediate value is a small non-negative integer, so a warm-start trace is a
// handful of one-operation steps a tiny model can learn.
import { formatTrace } from "./answer.js";
import { OptionReader } from "./options.js";
import { MAX_SPLIT_SIZE, SplitPool } from "./split-pool.js";
import { hash32, mixSeed, Rng, splitOf } from "./rng.js";
import { TaskSpecError, type Problem, type Split, type Task, type Verdict } from "./types.js";
import { verifyNumeric } from "./verifiers.js";

export type ArithOp = "+" | "-" | "*" | "/";
const ALL_OPS: readonly ArithOp[] = ["+", "-", "*", "/"];

export interface ArithProblem extends Problem {
  readonly start: number;
  readonly steps: readonly { op: ArithOp; operand: number }[];
  /** The value after the last step. */
  readonly answer: number;
}

export interface ArithOptions {
  /** Operations per chain, inclusive range (1..10). */
  steps: [number, number];
  /** Range of the start value and of each operand (integers >= 1). */
  values: [number, number];
  /** Every intermediate value lies in [0, maxValue]. */
  maxValue: number;
  ops: ArithOp[];
  testFraction: number;
  /** Problems in the train / test split: 0 = the split's whole space, drawn on demand (split-pool.ts). */
  trainSize: number;
  testSize: number;
  /** Numeric verifier tolerance: |answer - value| <= tolerance. */
  tolerance: number;
  formatReward: number;
}

// 2-4 operations by default: the traces then stay under ~90 characters; the option
// reaches 6 (and beyond) for longer chains.
export const ARITH_DEFAULTS: ArithOptions = { steps: [2, 4], values: [1, 9], maxValue: 99, ops: [...ALL_OPS], testFraction: 0.2, trainSize: 0, testSize: 0, tolerance: 1e-6, formatReward: 0 };

export function readArithOptions(raw: Readonly<Record<string, unknown>>): ArithOptions {
  const r = new OptionReader("arith", raw);
  const o: ArithOptions = {
    steps: r.range("steps", ARITH_DEFAULTS.steps, { integer: true, min: 1, max: 10 }),
    values: r.range("values", ARITH_DEFAULTS.values, { integer: true, min: 1, max: 1000 }),
    maxValue: r.number("maxValue", ARITH_DEFAULTS.maxValue, { integer: true, min: 1, max: 1_000_000 }),
    ops: r.stringList("ops", ARITH_DEFAULTS.ops) as ArithOp[],
    testFraction: r.number("testFraction", ARITH_DEFAULTS.testFraction, { min: 0, max: 1 }),
    trainSize: r.number("trainSize", ARITH_DEFAULTS.trainSize, { integer: true, min: 0, max: MAX_SPLIT_SIZE }),
    testSize: r.number("testSize", ARITH_DEFAULTS.testSize, { integer: true, min: 0, max: MAX_SPLIT_SIZE }),
    tolerance: r.number("tolerance", ARITH_DEFAULTS.tolerance, { min: 0 }),
    formatReward: r.number("formatReward", ARITH_DEFAULTS.formatReward, { min: 0, max: 1 }),
  };
  const bad = o.ops.filter((op) => !(ALL_OPS as readonly string[]).includes(op));
  if (bad.length > 0) throw new TaskSpecError(`task arith: option 'ops' may hold only "+", "-", "*", "/" (got ${JSON.stringify(bad)})`);
  if (o.values[0] > o.maxValue) throw new TaskSpecError(`task arith: option 'values' starts above 'maxValue' (${o.values[0]} > ${o.maxValue})`);
  r.finish();
  return o;
}

function apply(op: ArithOp, a: number, b: number): number {
  return op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : a / b;
}

export function arithExpression(start: number, steps: readonly { op: ArithOp; operand: number }[]): string {
  return `${start}${steps.map((s) => `${s.op}${s.operand}`).join("")}`;
}

export function arithPrompt(start: number, steps: readonly { op: ArithOp; operand: number }[]): string {
  return `Compute ${arithExpression(start, steps)} from left to right. Show steps, then <answer>number</answer>.\n`;
}

const MAX_FRUITLESS_DRAWS = 20_000;

export class ArithTask implements Task<ArithProblem> {
  readonly name = "arith";
  readonly options: Readonly<ArithOptions>;
  private readonly splits: SplitPool<ArithProblem>;

  constructor(options: Partial<ArithOptions> = {}) {
    this.options = readArithOptions(options as Record<string, unknown>);
    this.splits = new SplitPool("arith", { train: this.options.trainSize, test: this.options.testSize }, (split, count, seed) => this.generate(split, count, seed));
  }

  /** One chain: at each step an operation (uniform among those with a legal operand), then a legal operand. */
  private draw(rng: Rng): { start: number; steps: { op: ArithOp; operand: number }[]; answer: number } {
    const { steps: [slo, shi], values: [vlo, vhi], maxValue, ops } = this.options;
    let value = rng.int(vlo, vhi);
    const start = value;
    const steps: { op: ArithOp; operand: number }[] = [];
    const n = rng.int(slo, shi);
    for (let i = 0; i < n; i++) {
      const legal = new Map<ArithOp, number[]>();
      for (const op of ops) {
        const operands: number[] = [];
        for (let b = vlo; b <= vhi; b++) {
          const v = apply(op, value, b);
          if (Number.isInteger(v) && v >= 0 && v <= maxValue) operands.push(b);
        }
        if (operands.length > 0) legal.set(op, operands);
      }
      // Only possible when ops exclude '-' and '/' and value is already near maxValue.
      if (legal.size === 0) break;
      const op = rng.pick([...legal.keys()]);
      const operand = rng.pick(legal.get(op)!);
      value = apply(op, value, operand);
      steps.push({ op, operand });
    }
    return { start, steps, answer: value };
  }

  /** `count` problems of `split`: fresh ones, or from the fixed split when it has a size. */
  problems(split: Split, count: number, seed: number): ArithProblem[] {
    return this.splits.problems(split, count, seed);
  }

  size(split: Split): number | null {
    return this.splits.size(split);
  }

  /** `count` distinct problems of `split`'s whole space, drawn under `seed`. */
  private generate(split: Split, count: number, seed: number): ArithProblem[] {
    const rng = new Rng(mixSeed(seed, `arith/${split}`));
    const out: ArithProblem[] = [];
    const seen = new Set<string>();
    let fruitless = 0;
    while (out.length < count) {
      if (fruitless++ > MAX_FRUITLESS_DRAWS) {
        throw new TaskSpecError(`task arith: found only ${out.length} of ${count} distinct ${split} problems with these options; widen 'values', 'steps' or 'maxValue'`);
      }
      const d = this.draw(rng);
      if (d.steps.length < this.options.steps[0]) continue;
      const key = arithExpression(d.start, d.steps);
      if (seen.has(key) || splitOf(key, this.options.testFraction) !== split) continue;
      seen.add(key);
      out.push({ id: `arith:${key}`, split, prompt: arithPrompt(d.start, d.steps), ...d });
      fruitless = 0;
    }
    return out;
  }

  verify(problem: ArithProblem, response: string): Verdict {
    return verifyNumeric(problem.answer, response, this.options.tolerance, this.options.formatReward);
  }

  /** "First, 7+5=12. Then, 12*2=24. So, <answer>24</answer>" — one step per operation. */
  trace(problem: ArithProblem, seed = 0): string {
    let value = problem.start;
    const bodies = problem.steps.map((s) => {
      const next = apply(s.op, value, s.operand);
      const body = `${value}${s.op}${s.operand}=${next}`;
      value = next;
      return body;
    });
    return formatTrace(bodies, String(value), new Rng(hash32(arithExpression(problem.start, problem.steps), seed >>> 0)));
  }
}
