// Exhaustive search over Countdown solutions. It decides which generated problems are
// solvable and supplies the worked solution for warm-start traces.
//
// The search follows the classic game rules, stricter than the verifier: every
// intermediate result is a positive integer (a - b only when a > b, a / b only when b
// divides a). Traces then never show fractions or negatives, which a tiny character-
// level model handles far better; the verifier still accepts any correct equation.
import type { Expr, Op } from "./expr.js";

interface Item {
  value: number;
  expr: Expr;
}

function combine(a: Item, b: Item): Item[] {
  const out: Item[] = [];
  const bin = (op: Op, l: Item, r: Item, value: number): Item => ({ value, expr: { kind: "bin", op, left: l.expr, right: r.expr } });
  // Larger operand first, so "21+4" rather than "4+21" in traces.
  const [hi, lo] = a.value >= b.value ? [a, b] : [b, a];
  out.push(bin("+", hi, lo, hi.value + lo.value));
  out.push(bin("*", hi, lo, hi.value * lo.value));
  if (hi.value > lo.value) out.push(bin("-", hi, lo, hi.value - lo.value));
  if (lo.value > 0 && hi.value % lo.value === 0) out.push(bin("/", hi, lo, hi.value / lo.value));
  return out;
}

/**
 * Every value reachable by combining ALL of `numbers` (each exactly once) under the rules
 * above, each with the first expression found. Cost grows fast with the count: fine for
 * the 3-4 numbers of this task (a few thousand combinations), not meant for 6.
 */
export function reachableValues(numbers: readonly number[]): Map<number, Expr> {
  const found = new Map<number, Expr>();
  const search = (items: Item[]): void => {
    if (items.length === 1) {
      const only = items[0]!;
      if (!found.has(only.value)) found.set(only.value, only.expr);
      return;
    }
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        const rest = items.filter((_, k) => k !== i && k !== j);
        for (const c of combine(items[i]!, items[j]!)) search([...rest, c]);
      }
    }
  };
  search(numbers.map((value) => ({ value, expr: { kind: "num", value } })));
  return found;
}

/** A solution of (numbers, target) under the classic rules, or null when there is none. */
export function solveCountdown(numbers: readonly number[], target: number): Expr | null {
  return reachableValues(numbers).get(target) ?? null;
}

/** The computation steps of `e` in evaluation order, as "7*3=21" strings. */
export function expressionSteps(e: Expr): string[] {
  const steps: string[] = [];
  const walk = (x: Expr): number => {
    if (x.kind === "num") return x.value;
    const l = walk(x.left);
    const r = walk(x.right);
    const v = x.op === "+" ? l + r : x.op === "-" ? l - r : x.op === "*" ? l * r : l / r;
    steps.push(`${l}${x.op}${r}=${v}`);
    return v;
  };
  walk(e);
  return steps;
}
