// A process verifier for countdown: each reasoning step's intermediate equations
// ("7*3=21") checked on their own, as a step-level reward (the language's `step_reward`).
//
// An equation `a op b = c` in a step is valid when
//   - the arithmetic holds: a op b equals c (within COUNTDOWN_STEP_TOLERANCE; division by 0 fails), and
//   - both operands are available: the prompt's numbers and the results of earlier
//     equations form a pool (a multiset), each operand takes one copy from it, as the
//     game's "each number once" rule says.
// The result c joins the pool whether or not the equation was valid, so an error scores
// only the step that makes it: a trace that misreads 7 as 8 ("8*3=24") fails that step,
// and the later step that honestly carries 24 on ("24+4=28") passes.
//
// A step's reward: 1 when every equation in it is valid, 0 when any is not, and 1 for a
// step with no equation (nothing to refute: Lightman et al.'s "neutral" step counted as
// positive). An equation belongs to the step holding its first character.
//
// Steps come from the segmentation as token indices; `stepTexts` maps them to text
// through the tokenizer's per-token pieces (which join to the decoded response).
import type { Problem, Task } from "./types.js";

export const COUNTDOWN_STEP_TOLERANCE = 1e-6;

/** Reward of a step without an equation (documented in spec/language.md, `step_reward`). */
export const NO_EQUATION_REWARD = 1;

export interface StepEquation {
  a: number;
  op: "+" | "-" | "*" | "/";
  b: number;
  c: number;
  /** Character offset of `a` in the text searched. */
  at: number;
}

// `a op b = c` with non-negative decimal operands and a possibly negative result. The
// look-behind refuses a match inside a longer expression ("7*3+4=25" is not "3+4=25"),
// the look-ahead a result that continues as a number.
const EQUATION = /(?<![\d.)+\-*/])(\d+(?:\.\d+)?)\s*([+\-*/])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)(?![\d])/g;

/** Every `a op b = c` in `text`, in order. */
export function findEquations(text: string): StepEquation[] {
  const out: StepEquation[] = [];
  for (const m of text.matchAll(EQUATION)) {
    out.push({ a: Number(m[1]), op: m[2] as StepEquation["op"], b: Number(m[3]), c: Number(m[4]), at: m.index });
  }
  return out;
}

function apply(op: StepEquation["op"], a: number, b: number): number {
  switch (op) {
    case "+": return a + b;
    case "-": return a - b;
    case "*": return a * b;
    case "/": return b === 0 ? NaN : a / b;
  }
}

/** Takes one copy of v from the pool; false when there is none. */
function take(pool: number[], v: number): boolean {
  const i = pool.findIndex((x) => Math.abs(x - v) < COUNTDOWN_STEP_TOLERANCE);
  if (i < 0) return false;
  pool.splice(i, 1);
  return true;
}

/** Whether one equation holds against `pool`; consumes its operands and adds its result either way. */
function checkEquation(e: StepEquation, pool: number[]): boolean {
  const v = apply(e.op, e.a, e.b);
  const arithmetic = Math.abs(v - e.c) < COUNTDOWN_STEP_TOLERANCE;
  const left = take(pool, e.a);
  const right = take(pool, e.b);
  pool.push(e.c);
  return arithmetic && left && right;
}

/**
 * One reward per step (see the file comment) of `text`, whose step k starts at character
 * offsets[k] (offsets[0] = 0, increasing): 1 valid, 0 some equation fails,
 * NO_EQUATION_REWARD without one. Equations are found in the whole text, so one that a
 * boundary cuts still counts, in the step holding its first character.
 */
export function checkCountdownTrace(numbers: readonly number[], text: string, offsets: readonly number[]): number[] {
  const pool = [...numbers];
  const out: number[] = offsets.map(() => NO_EQUATION_REWARD);
  const seen: boolean[] = offsets.map(() => false);
  for (const e of findEquations(text)) {
    let k = 0;
    while (k + 1 < offsets.length && offsets[k + 1]! <= e.at) k++;
    const ok = checkEquation(e, pool);
    out[k] = (seen[k] ? out[k]! : 1) * (ok ? 1 : 0);
    seen[k] = true;
  }
  return out;
}

/** The same for a response given as its steps' texts. */
export function checkCountdownSteps(numbers: readonly number[], steps: readonly string[]): number[] {
  const offsets: number[] = [];
  let c = 0;
  for (const s of steps) {
    offsets.push(c);
    c += s.length;
  }
  return checkCountdownTrace(numbers, steps.join(""), offsets);
}

/** Character offset of each step's first token: step k is tokens [starts[k], starts[k+1]) of `pieces`. */
export function stepOffsets(pieces: readonly string[], starts: readonly number[]): number[] {
  const tokenStart: number[] = [];
  let c = 0;
  for (const p of pieces) {
    tokenStart.push(c);
    c += p.length;
  }
  return starts.map((s) => (s < pieces.length ? tokenStart[s]! : c));
}

/**
 * The step checker of `task`, or null when the task has none (only countdown has one):
 * one reward per step of a response given as its per-token pieces and step starts.
 */
export function stepChecker(task: Task): ((problem: Problem, pieces: readonly string[], starts: readonly number[]) => number[]) | null {
  if (task.name !== "countdown") return null;
  return (problem, pieces, starts) => checkCountdownTrace((problem as Problem & { numbers: readonly number[] }).numbers, pieces.join(""), stepOffsets(pieces, starts));
}
