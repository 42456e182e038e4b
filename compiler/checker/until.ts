// Stop conditions that can never hold. A stage whose `until` never holds trains until the
// run is stopped from outside, so the checker warns (W0501) when it can prove that:
// - the condition folds to the constant `false` (`until 1 > 2`, `until false`, a param
//   that makes it false), or
// - it only compares the step counters with constants (`steps < 1`, `steps == 2.5`,
//   `steps >= 10 and steps < 5`, `total_steps >= 1e300`) and no count can satisfy it.
// The counters are whole numbers with 1 <= steps <= total_steps <= 2^53 when `until` is
// evaluated (after each optimizer step). A comparison of a counter with a constant c only
// changes value at the whole numbers around c, so the condition holds for some counts
// exactly when it holds at one of those candidate points; conditions that use the
// counters in any other way (arithmetic, functions) or other quantities are not judged.
import type * as A from "../ast.js";
import { allNodes, foldExpr } from "../walk.js";
import { binaryValue, type ExprChecker } from "./expr.js";

const COUNTERS = new Set(["steps", "total_steps"]);
const COMPARISONS = new Set<A.BinaryOp>(["<", "<=", ">", ">=", "==", "!="]);
/** Beyond this a counter could not be counted exactly; a bound past it never comes. */
const HORIZON = Number.MAX_SAFE_INTEGER;

type Value = number | boolean | undefined;

/** Why `until` can never hold, or undefined when it can (or cannot be judged). */
export function neverHolds(until: A.Expr, exprs: ExprChecker): string | undefined {
  const folded = exprs.constValue(until);
  if (folded === false) return "it is always false";
  const bounds = counterBounds(until, exprs);
  if (!bounds) return undefined;
  // One set of candidate points for both counters: a comparison of the two counters changes
  // value where they are equal or one apart, and those pairs are among these points too.
  const points = new Set<number>([1, 2, HORIZON]);
  for (const c of bounds) for (const p of [Math.floor(c) - 1, Math.floor(c), Math.ceil(c), Math.ceil(c) + 1]) if (p >= 1 && p <= HORIZON) points.add(p);
  for (const p of [...points]) if (p + 1 <= HORIZON) points.add(p + 1);
  for (const steps of points) {
    for (const total of points) {
      if (total < steps) continue;
      if (valueAt(until, exprs, { steps, total_steps: total }) !== false) return undefined;
    }
  }
  return "no count of optimizer steps satisfies it (steps and total_steps are whole numbers, 1 <= steps <= total_steps)";
}

/** The constants the counters are compared with, or undefined when a counter appears any other way. */
function counterBounds(e: A.Expr, exprs: ExprChecker): number[] | undefined {
  const bounds: number[] = [];
  const compared = new Set<A.Expr>();
  const isCounter = (x: A.Expr) => x.kind === "name" && COUNTERS.has(x.name);
  for (const n of allNodes(e)) {
    if (n.kind !== "binary" || !COMPARISONS.has(n.op)) continue;
    for (const [side, other] of [[n.left, n.right], [n.right, n.left]] as const) {
      if (!isCounter(side)) continue;
      compared.add(side);
      if (isCounter(other)) continue;
      const c = exprs.constValue(other);
      if (typeof c !== "number") return undefined;
      bounds.push(c);
    }
  }
  if (compared.size === 0) return undefined;
  for (const n of allNodes(e)) if (isCounter(n) && !compared.has(n)) return undefined;
  return bounds;
}

/** The condition's value at given counter values; undefined when it depends on anything else. */
function valueAt(e: A.Expr, exprs: ExprChecker, counters: Record<string, number>): Value {
  return foldExpr<Value>(
    e,
    (x) => (x.kind === "name" && COUNTERS.has(x.name) ? counters[x.name] : exprs.constValue(x)),
    (x, [a, b, c]) => {
      if (x.kind === "unary") return x.op === "not" && typeof a === "boolean" ? !a : x.op === "neg" && typeof a === "number" ? -a : undefined;
      if (x.kind === "binary") return a === undefined || b === undefined ? undefined : binaryValue(x.op, a, b);
      return typeof a !== "boolean" ? undefined : a ? b : c;
    },
  );
}
