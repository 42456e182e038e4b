// Walking expression trees without recursion. Operator chains make trees as deep as they
// are long (a sum of 10,000 terms is 10,000 levels of `+`), so every pass that follows the
// operator structure (checking, constant folding, printing, lowering) goes through `foldExpr`
// and an explicit stack. Calls are leaves here: their arguments are nested in parentheses,
// so the parser's nesting limit (MAX_NESTING) already bounds how deep a pass recurses into them.
import type * as A from "./ast.js";

/** The operands of a unary, binary or `if` node, in source order; none for the others. */
export function operandsOf(e: A.Expr): A.Expr[] {
  switch (e.kind) {
    case "unary":
      return [e.operand];
    case "binary":
      return [e.left, e.right];
    case "if":
      return [e.cond, e.then, e.else];
    default:
      return [];
  }
}

/**
 * Post-order fold over the operator structure of `root`: `leaf` for nodes without operands
 * (literals, names, calls), `combine` for unary, binary and `if` nodes with the results of
 * their operands in source order. Operands are visited left to right, so side effects
 * (diagnostics) come in the same order as a recursive walk's.
 */
export function foldExpr<R>(root: A.Expr, leaf: (e: A.Expr) => R, combine: (e: A.Expr, parts: R[]) => R): R {
  const stack: { e: A.Expr; ops: A.Expr[]; parts: R[] }[] = [];
  let result: R | undefined;
  let next: A.Expr | undefined = root;
  for (;;) {
    if (next) {
      const ops = operandsOf(next);
      if (ops.length === 0) result = leaf(next);
      else {
        stack.push({ e: next, ops, parts: [] });
        next = ops[0];
        continue;
      }
      next = undefined;
    }
    const top = stack[stack.length - 1];
    if (!top) return result as R;
    top.parts.push(result as R);
    if (top.parts.length < top.ops.length) {
      next = top.ops[top.parts.length];
      continue;
    }
    stack.pop();
    result = combine(top.e, top.parts);
  }
}

/** Every node of `root`, call arguments and instantiated fn bodies included, without recursion. */
export function* allNodes(root: A.Expr): Generator<A.Expr> {
  const pending: A.Expr[] = [root];
  while (pending.length) {
    const e = pending.pop()!;
    yield e;
    pending.push(...operandsOf(e));
    if (e.kind === "call") {
      for (const a of e.args) pending.push(a.value);
      if (e.body) pending.push(e.body);
    }
  }
}

/** A deep copy of `root` (as `structuredClone`, which recurses and fails on long chains). */
export function cloneExpr(root: A.Expr): A.Expr {
  return foldExpr<A.Expr>(
    root,
    (e) => (e.kind === "call" ? { ...e, args: e.args.map((a) => ({ ...a, value: cloneExpr(a.value) })), body: e.body && cloneExpr(e.body) } : { ...e }),
    (e, p) => {
      if (e.kind === "unary") return { ...e, operand: p[0]! };
      if (e.kind === "binary") return { ...e, left: p[0]!, right: p[1]! };
      return { ...(e as A.IfExpr), cond: p[0]!, then: p[1]!, else: p[2]! };
    },
  );
}

/** How many nodes `root` has, call arguments included (fn bodies are not yet instantiated when this is asked). */
export function exprSize(root: A.Expr): number {
  let n = 0;
  for (const _ of allNodes(root)) n++;
  return n;
}
