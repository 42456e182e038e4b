// A hand-written parser and evaluator for countdown equations. Never eval/Function: the
// text comes from a policy under optimisation pressure, so it is treated as hostile.
//
// Grammar (binary operators only, usual precedence, left-associative):
//   expr   := term (('+' | '-') term)*
//   term   := factor (('*' | '/') factor)*
//   factor := NUMBER | '(' expr ')'
//   NUMBER := '0' | [1-9][0-9]*            (ASCII digits; no leading zeros, no decimals)
// Whitespace (space, tab, CR, LF) may appear between tokens. Unary minus, '**', '//',
// '.', and any other character are rejected: the Countdown rules combine the given
// numbers with the four operations, so nothing else can be needed.

export type Expr = { kind: "num"; value: number } | { kind: "bin"; op: Op; left: Expr; right: Expr };
export type Op = "+" | "-" | "*" | "/";

export type ParseResult = { ok: true; expr: Expr; numbers: number[] } | { ok: false; reason: string };

/** Parentheses nest at most this deep; deeper input is rejected instead of exhausting the stack. */
export const MAX_DEPTH = 64;
/** Longest literal accepted; longer ones cannot be represented exactly as doubles. */
const MAX_DIGITS = 15;

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r";

/** Parses `src`; on success also returns the literals in order of appearance. */
export function parseEquation(src: string): ParseResult {
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (!(isDigit(c) || isSpace(c) || "+-*/()".includes(c))) {
      return { ok: false, reason: `illegal character ${JSON.stringify(c)} at ${i}` };
    }
  }
  let pos = 0;
  const numbers: number[] = [];
  const skip = (): void => {
    while (pos < src.length && isSpace(src[pos]!)) pos++;
  };
  class Fail extends Error {}
  const fail = (what: string): never => {
    throw new Fail(pos < src.length ? `${what} at ${pos}, found ${JSON.stringify(src[pos])}` : `${what} at end of input`);
  };

  const factor = (depth: number): Expr => {
    skip();
    const c = src[pos];
    if (c === "(") {
      if (depth >= MAX_DEPTH) fail(`parentheses nested deeper than ${MAX_DEPTH}`);
      pos++;
      const e = expr(depth + 1);
      skip();
      if (src[pos] !== ")") fail("expected ')'");
      pos++;
      return e;
    }
    if (c !== undefined && isDigit(c)) {
      const start = pos;
      while (pos < src.length && isDigit(src[pos]!)) pos++;
      const lit = src.slice(start, pos);
      if (lit.length > 1 && lit[0] === "0") {
        pos = start;
        fail(`number with a leading zero (${lit})`);
      }
      if (lit.length > MAX_DIGITS) {
        pos = start;
        fail(`number longer than ${MAX_DIGITS} digits`);
      }
      const value = Number(lit);
      numbers.push(value);
      return { kind: "num", value };
    }
    return fail("expected a number or '('");
  };
  const term = (depth: number): Expr => {
    let left = factor(depth);
    for (;;) {
      skip();
      const c = src[pos];
      if (c !== "*" && c !== "/") return left;
      pos++;
      left = { kind: "bin", op: c, left, right: factor(depth) };
    }
  };
  const expr = (depth: number): Expr => {
    let left = term(depth);
    for (;;) {
      skip();
      const c = src[pos];
      if (c !== "+" && c !== "-") return left;
      pos++;
      left = { kind: "bin", op: c, left, right: term(depth) };
    }
  };

  try {
    const e = expr(0);
    skip();
    if (pos < src.length) fail("unexpected input");
    return { ok: true, expr: e, numbers };
  } catch (err) {
    if (err instanceof Fail) return { ok: false, reason: err.message };
    throw err;
  }
}

export type ExprValue = { ok: true; value: number } | { ok: false; reason: string };

/** Evaluates in float64 (the convention's tolerance absorbs rounding); x / 0 is an error, not inf. */
export function exprValue(e: Expr): ExprValue {
  if (e.kind === "num") return { ok: true, value: e.value };
  const l = exprValue(e.left);
  if (!l.ok) return l;
  const r = exprValue(e.right);
  if (!r.ok) return r;
  switch (e.op) {
    case "+":
      return { ok: true, value: l.value + r.value };
    case "-":
      return { ok: true, value: l.value - r.value };
    case "*":
      return { ok: true, value: l.value * r.value };
    case "/":
      if (r.value === 0) return { ok: false, reason: "division by zero" };
      return { ok: true, value: l.value / r.value };
  }
}

const PREC: Record<Op, number> = { "+": 1, "-": 1, "*": 2, "/": 2 };

/**
 * Prints with the fewest parentheses a person would write. The right operand of '-' and
 * '/' keeps its parentheses at equal precedence; for '+' and '*' they are dropped
 * (a+(b-c) prints a+b-c), which preserves the value exactly for the integer expressions
 * with exact intermediate results that the solver builds.
 */
export function printExpr(e: Expr, spaced = false): string {
  if (e.kind === "num") return String(e.value);
  const p = PREC[e.op];
  const l = e.left.kind === "bin" && PREC[e.left.op] < p ? `(${printExpr(e.left, spaced)})` : printExpr(e.left, spaced);
  const needR = e.right.kind === "bin" && (PREC[e.right.op] < p || (PREC[e.right.op] === p && (e.op === "-" || e.op === "/")));
  const r = needR ? `(${printExpr(e.right, spaced)})` : printExpr(e.right, spaced);
  return spaced ? `${l} ${e.op} ${r}` : `${l}${e.op}${r}`;
}
