// The arithmetic of the IR's elementwise ops on numbers (a bool is 1 or 0), written once.
// The graph folds constant nodes with it (`graph.ts`), the interpreter evaluates every
// element with it (`interpret/eval.ts`), and the checker folds constant expressions
// (params, ranges, `until`) through the same functions (`checker/expr.ts`), so that a
// constant means the same number wherever it is folded. A leaf: it imports only op names.
import type * as A from "../ast.js";
import type { BinaryFn, UnaryFn } from "./ops.js";

/** The IR op each source operator lowers to. */
export const BINARY_FN: Record<A.BinaryOp, BinaryFn> = {
  "+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow",
  "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne", and: "and", or: "or",
};

/** The ops whose result is a condition (1 or 0). */
export const BOOL_RESULT: ReadonlySet<BinaryFn> = new Set<BinaryFn>(["lt", "le", "gt", "ge", "eq", "ne", "and", "or"]);

/** Built-in functions of one argument that lower to the unary op of the same name. */
export const ELEMENTWISE_UNARY: ReadonlySet<string> = new Set<UnaryFn>(["abs", "exp", "log", "sqrt", "sigmoid", "tanh", "floor"]);

export function unaryValue(fn: UnaryFn, x: number): number {
  switch (fn) {
    case "neg": return -x;
    case "not": return x !== 0 ? 0 : 1;
    case "abs": return Math.abs(x);
    case "exp": return Math.exp(x);
    case "log": return Math.log(x);
    case "sqrt": return Math.sqrt(x);
    case "sigmoid": return 1 / (1 + Math.exp(-x));
    case "tanh": return Math.tanh(x);
    case "floor": return Math.floor(x);
  }
}

export function binaryValue(fn: BinaryFn, a: number, b: number): number {
  switch (fn) {
    case "add": return a + b;
    case "sub": return a - b;
    case "mul": return a * b;
    case "div": return a / b;
    case "pow": return a ** b;
    case "min": return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
    case "max": return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
    case "lt": return +(a < b);
    case "le": return +(a <= b);
    case "gt": return +(a > b);
    case "ge": return +(a >= b);
    case "eq": return +(a === b);
    case "ne": return +(a !== b);
    case "and": return +(a !== 0 && b !== 0);
    case "or": return +(a !== 0 || b !== 0);
  }
}

/**
 * The value of an elementwise built-in call on constant numbers, composed from the ops it
 * lowers to (`ir/lower.ts`: clip(x, lo, hi) is min(max(x, lo), hi)); undefined for any
 * other function or a wrong number of arguments to min, max or clip. A one-argument
 * function reads its first argument only: the checker reports a wrong count (E0205).
 */
export function callValue(callee: string, v: readonly number[]): number | undefined {
  if (ELEMENTWISE_UNARY.has(callee)) return unaryValue(callee as UnaryFn, v[0] ?? NaN);
  if (callee === "min" || callee === "max") return v.length === 2 ? binaryValue(callee, v[0]!, v[1]!) : undefined;
  if (callee === "clip") return v.length === 3 ? binaryValue("min", binaryValue("max", v[0]!, v[1]!), v[2]!) : undefined;
  return undefined;
}
