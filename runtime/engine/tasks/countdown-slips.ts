// Flawed warm-start traces for countdown: a solution in which one step misreads one of the
// prompt's numbers (n becomes n+1 or n-1) and the rest of the trace carries that honestly.
//
// Why: RL on the embedded policy only shows a signal above update noise when the warm
// start's mistakes are systematic and step-local (spec/testbed.md). A misread number is
// both: the policy can always copy the right number from its prompt, the slip sits in one
// known step, and the answer then uses a number the prompt does not have, so the verifier
// rejects it. Unlike a miscomputed value (which an equation answer never shows), the slip
// decides the reward, so "which step is wrong" is ground truth for attribution checks.
import type { Expr } from "./expr.js";
import type { Rng } from "./rng.js";

export interface SlippedSolution {
  /** The solution with one leaf replaced by its misread value. */
  expr: Expr;
  /** Index (in evaluation order, 0-based) of the step that first uses the misread number. */
  step: number;
}

/** Leaves of `e` in left-to-right order. */
function leafCount(e: Expr): number {
  return e.kind === "num" ? 1 : leafCount(e.left) + leafCount(e.right);
}

/** `e` with its `index`-th leaf (left to right) set to `value`. */
function replaceLeaf(e: Expr, index: number, value: number): Expr {
  let seen = 0;
  const walk = (x: Expr): Expr => {
    if (x.kind === "num") return seen++ === index ? { kind: "num", value } : x;
    return { kind: "bin", op: x.op, left: walk(x.left), right: walk(x.right) };
  };
  return walk(e);
}

/**
 * The index of the step (evaluation order, as expressionSteps lists them) whose operands
 * include leaf `index`, or null when some step of `e` leaves the positive integers (the
 * classic rules every trace follows).
 */
function stepOfLeaf(e: Expr, index: number): number | null {
  let leaves = 0, steps = 0, found = -1;
  const walk = (x: Expr): number | null => {
    if (x.kind === "num") {
      leaves++;
      return x.value;
    }
    const before = leaves;
    const l = walk(x.left);
    const r = l === null ? null : walk(x.right);
    if (l === null || r === null) return null;
    const v = x.op === "+" ? l + r : x.op === "-" ? l - r : x.op === "*" ? l * r : l / r;
    if (!(v > 0 && Number.isInteger(v))) return null;
    // A direct leaf operand of this step is the one misread here.
    const leftLeaf = x.left.kind === "num" ? before : -1;
    const rightLeaf = x.right.kind === "num" ? leaves - 1 : -1;
    if (found < 0 && (leftLeaf === index || rightLeaf === index)) found = steps;
    steps++;
    return v;
  };
  return walk(e) === null || found < 0 ? null : found;
}

/**
 * One misread of `e`: a leaf chosen by `rng`, read as its value +1 or -1 (never below 1),
 * such that every step stays a positive integer. Null when no leaf admits a misread (then
 * the trace stays clean).
 */
export function slipSolution(e: Expr, rng: Rng): SlippedSolution | null {
  const n = leafCount(e);
  const candidates: { leaf: number; value: number }[] = [];
  const leaves: number[] = [];
  const collect = (x: Expr): void => {
    if (x.kind === "num") leaves.push(x.value);
    else {
      collect(x.left);
      collect(x.right);
    }
  };
  collect(e);
  for (let leaf = 0; leaf < n; leaf++) {
    for (const d of [1, -1]) {
      const value = leaves[leaf]! + d;
      if (value >= 1) candidates.push({ leaf, value });
    }
  }
  for (const c of rng.shuffled(candidates)) {
    const expr = replaceLeaf(e, c.leaf, c.value);
    const step = stepOfLeaf(expr, c.leaf);
    if (step !== null) return { expr, step };
  }
  return null;
}
