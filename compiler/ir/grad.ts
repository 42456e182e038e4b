// Reverse-mode derivatives over the IR: one rule per op (RULES), and a walk over the
// nodes in reverse topological order that sums each node's adjoint. The result is more IR
// (built in the same hash-consed graph), so the interpreter and the code generator run
// the derivative exactly as they run the forward expressions.
//
// Only nodes with `pdep` (depending on the policy's logp or H without a `detach`) get
// adjoints; everything else is a constant to the derivative. Across levels the rules
// mirror each other: the adjoint of a broadcast is a sum over the unit, the adjoint of a
// sum is a broadcast. Reductions that select an element (min, max, quantile) have no rule:
// a policy-dependent one reaching the loss is a compile error, never a silent zero.
import type { Graph } from "./graph.js";
import type { Node } from "./ops.js";

/** Adjoint contributions of one node: [argument id, adjoint node] pairs. */
type Rule = (g: Graph, n: Node, adj: number) => [number, number][];

const gd = (g: Graph, a: number, b: number) => g.binary("div", a, b);
const gm = (g: Graph, a: number, b: number) => g.binary("mul", a, b);

const UNARY_RULES: Record<string, (g: Graph, x: number, y: number, adj: number) => number | null> = {
  neg: (g, _x, _y, a) => g.unary("neg", a),
  not: () => null,
  abs: (g, x, _y, a) => g.select(g.binary("lt", x, g.const(0)), g.unary("neg", a), a),
  exp: (g, _x, y, a) => gm(g, a, y),
  log: (g, x, _y, a) => gd(g, a, x),
  sqrt: (g, _x, y, a) => gd(g, a, gm(g, g.const(2), y)),
  sigmoid: (g, _x, y, a) => gm(g, a, gm(g, y, g.binary("sub", g.const(1), y))),
  tanh: (g, _x, y, a) => gm(g, a, g.binary("sub", g.const(1), gm(g, y, y))),
  floor: () => null, // piecewise constant
};

export const RULES: Record<Node["op"], Rule> = {
  const: () => [],
  param: () => [],
  input: () => [],
  detach: () => [],
  unary: (g, n, adj) => {
    if (n.op !== "unary") return [];
    const x = n.args[0];
    const d = UNARY_RULES[n.fn]!(g, x, n.id, adj);
    return d === null ? [] : [[x, d]];
  },
  binary: (g, n, adj) => {
    if (n.op !== "binary") return [];
    const [x, y] = n.args;
    switch (n.fn) {
      case "add": return [[x, adj], [y, adj]];
      case "sub": return [[x, adj], [y, g.unary("neg", adj)]];
      case "mul": return [[x, gm(g, adj, y)], [y, gm(g, adj, x)]];
      case "div": return [[x, gd(g, adj, y)], [y, g.unary("neg", gd(g, gm(g, adj, n.id), y))]];
      case "pow":
        // d/dx x^y = y x^(y-1);  d/dy x^y = x^y log x.
        return [
          [x, gm(g, adj, gm(g, y, g.binary("pow", x, g.binary("sub", y, g.const(1)))))],
          [y, gm(g, adj, gm(g, n.id, g.unary("log", x)))],
        ];
      case "min": {
        const takeX = g.binary("le", x, y); // ties go to the first argument
        return [[x, g.select(takeX, adj, g.const(0))], [y, g.select(takeX, g.const(0), adj)]];
      }
      case "max": {
        const takeX = g.binary("ge", x, y);
        return [[x, g.select(takeX, adj, g.const(0))], [y, g.select(takeX, g.const(0), adj)]];
      }
      default:
        return []; // comparisons and logic: piecewise constant
    }
  },
  select: (g, n, adj) => {
    if (n.op !== "select") return [];
    const [c, x, y] = n.args;
    return [[x, g.select(c, adj, g.const(0))], [y, g.select(c, g.const(0), adj)]];
  },
  bcast: (g, n, adj) => {
    if (n.op !== "bcast") return [];
    const x = n.args[0];
    return [[x, g.reduce("sum", adj, g.node(x).level)]];
  },
  scan: (g, n, adj) => {
    if (n.op !== "scan") return [];
    // y_t = sum_{k<=t} gamma^(t-k) x_k  =>  dL/dx_k = sum_{t>=k} gamma^(t-k) adj_t: the other scan.
    const [x, gamma] = n.args;
    return [[x, g.scan(n.fn === "prefix" ? "suffix" : "prefix", g.bcast(adj, n.level), gamma)]];
  },
  reduce: (g, n, adj) => {
    if (n.op !== "reduce") return [];
    const x = n.args[0];
    const xl = g.node(x).level;
    const count = () => g.reduce("sum", g.ones(xl), n.level);
    switch (n.fn) {
      case "sum":
        return [[x, g.bcast(adj, xl)]];
      case "mean":
        return [[x, g.bcast(gd(g, adj, count()), xl)]];
      case "std": {
        // d std / d x_j = (x_j - mean) / ((n - ddof) std)
        const mean = g.reduce("mean", x, n.level);
        const scale = gd(g, adj, gm(g, g.binary("sub", count(), g.const(n.ddof)), n.id));
        return [[x, gm(g, g.bcast(scale, xl), g.binary("sub", x, g.bcast(mean, xl)))]];
      }
      default:
        throw new GradError(`the loss depends on the current policy through \`${n.fn}(… over ${n.level})\`, which has no derivative; wrap its argument so it does not use logp, p, H, ratio or k1/k2/k3`);
    }
  },
};

export class GradError extends Error {}

/**
 * d(root)/d(leaf) for each leaf in `wrt` (input nodes), as nodes of `g` at the leaves'
 * levels; a leaf the root does not depend on gets the constant 0.
 */
export function gradient(g: Graph, root: number, wrt: number[]): number[] {
  const adj = new Map<number, number>();
  adj.set(root, g.const(1));
  for (let id = root; id >= 0; id--) {
    const a = adj.get(id);
    if (a === undefined) continue;
    const n = g.node(id);
    if (!n.pdep) continue;
    for (const [arg, d] of RULES[n.op](g, n, a)) {
      if (!g.node(arg).pdep) continue;
      // Constants are level-free; an adjoint lives at its argument's level.
      const lifted = g.node(d).op === "const" ? d : g.bcast(d, g.node(arg).level);
      const prev = adj.get(arg);
      adj.set(arg, prev === undefined ? lifted : g.binary("add", prev, lifted));
    }
  }
  return wrt.map((w) => adj.get(w) ?? g.const(0));
}
