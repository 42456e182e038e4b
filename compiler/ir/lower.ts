// Lowering checked AST expressions into the IR. User `fn`s are inlined at their call
// sites (the checker already instantiated each body at its arguments' levels), `let`s are
// lowered once and shared, derived built-ins become IR arithmetic on the inputs:
//   p = exp(logp), ratio = exp(logp - old_logp), accuracy = mean(correct over group),
//   k1 = logp - ref_logp, k2 = (logp - ref_logp)^2 / 2, k3 = exp(ref_logp - logp) - (ref_logp - logp) - 1,
//   G = rollout.group (a constant), median = quantile 0.5, frac(c) = mean(c ? 1 : 0).
import type * as A from "../ast.js";
import { REDUCTION_TARGETS, type Level } from "../levels.js";
import type { Pipeline } from "../pipeline.js";
import type { Graph } from "./graph.js";
import { BINARY_FN, ELEMENTWISE_UNARY } from "./fold.js";
import type { InputName, ReduceFn } from "./ops.js";
import { INPUTS } from "./ops.js";
import { foldExpr } from "../walk.js";

/** A value the user named: a `let`, or the result of a `fn` call site. Reported by replay. */
export interface Named {
  name: string;
  kind: "let" | "fn";
  node: number;
  level: Level;
}

export class Lowering {
  private readonly lets = new Map<string, number>();
  private readonly scopes: number[][] = [];
  readonly named: Named[] = [];
  private readonly fnCalls = new Map<string, number>();

  constructor(readonly g: Graph, private readonly p: Pipeline) {}

  /** The node of expression `e`; throws on an unchecked tree (a compiler bug, not user input). Operator chains are walked without recursion. */
  expr(e: A.Expr): number {
    const g = this.g;
    return foldExpr<number>(
      e,
      (x) => this.leaf(x),
      (x, [a, b, c]) => {
        if (x.kind === "unary") return g.unary(x.op === "neg" ? "neg" : "not", a!);
        if (x.kind === "binary") return g.binary(BINARY_FN[x.op], a!, b!);
        return g.select(a!, b!, c!);
      },
    );
  }

  private leaf(e: A.Expr): number {
    switch (e.kind) {
      case "number":
        return this.g.const(e.value);
      case "bool":
        return this.g.const(e.value ? 1 : 0, "bool");
      case "name":
        return this.name(e);
      case "call":
        return this.call(e);
      default:
        throw new Error(`IR: ${e.kind} cannot be lowered`);
    }
  }

  private name(e: A.NameExpr): number {
    const ref = e.ref;
    if (!ref) throw new Error(`IR: unresolved name ${e.name}`);
    switch (ref.kind) {
      case "param":
        return this.g.param(ref.name);
      case "arg": {
        const scope = this.scopes[this.scopes.length - 1];
        const v = scope?.[ref.index];
        if (v === undefined) throw new Error(`IR: fn argument ${ref.name} outside its call`);
        return v;
      }
      case "let":
        return this.let(ref.name);
      case "builtin":
        return this.builtin(ref.name);
    }
  }

  /** The node of `let name`, lowered on first use and shared afterwards. */
  let(name: string): number {
    const hit = this.lets.get(name);
    if (hit !== undefined) return hit;
    const decl = this.p.lets.find((l) => l.name === name);
    if (!decl) throw new Error(`IR: unknown let ${name}`);
    const id = this.expr(decl.expr);
    this.lets.set(name, id);
    this.named.push({ name, kind: "let", node: id, level: this.g.node(id).level });
    return id;
  }

  private builtin(name: string): number {
    const g = this.g;
    if (name in INPUTS) return g.input(name as InputName);
    const logp = () => g.input("logp");
    const d = () => g.binary("sub", g.input("ref_logp"), logp()); // ref_logp - logp
    switch (name) {
      case "p":
        return g.unary("exp", logp());
      case "ratio":
        return g.unary("exp", g.binary("sub", logp(), g.input("old_logp")));
      case "k1":
        return g.unary("neg", d());
      case "k2":
        return g.binary("mul", g.binary("mul", d(), d()), g.const(0.5));
      case "k3":
        return g.binary("sub", g.binary("sub", g.unary("exp", d()), d()), g.const(1));
      case "accuracy":
        return g.reduce("mean", g.toNum(g.bcast(g.input("correct"), "sequence")), "group");
      case "G":
        return g.const(this.p.rollout.group);
      default:
        throw new Error(`IR: no lowering for built-in ${name}`);
    }
  }

  private call(e: A.CallExpr): number {
    const g = this.g;
    if (e.body) {
      const args = e.args.map((a) => this.expr(a.value));
      this.scopes.push(args);
      const id = this.expr(e.body);
      this.scopes.pop();
      // Each call site is its own named value: w, w#2, ... in source order.
      const n = (this.fnCalls.get(e.callee) ?? 0) + 1;
      this.fnCalls.set(e.callee, n);
      this.named.push({ name: n === 1 ? e.callee : `${e.callee}#${n}`, kind: "fn", node: id, level: g.node(id).level });
      return id;
    }
    const over = e.args[0]?.over;
    if (over) return this.reduction(e, REDUCTION_TARGETS[over.name]!);
    const a = e.args.map((x) => this.expr(x.value));
    if (ELEMENTWISE_UNARY.has(e.callee)) return g.unary(e.callee as "abs", a[0]!);
    if (e.callee === "min" || e.callee === "max") return g.binary(e.callee, a[0]!, a[1]!);
    if (e.callee === "clip") return g.binary("min", g.binary("max", a[0]!, a[1]!), a[2]!);
    throw new Error(`IR: no lowering for function ${e.callee}`);
  }

  private reduction(e: A.CallExpr, level: Level): number {
    const g = this.g;
    const x = this.expr(e.args[0]!.value);
    const extra = e.args[1] ? this.expr(e.args[1].value) : undefined;
    switch (e.callee) {
      case "mean":
      case "sum":
      case "min":
      case "max":
        return g.reduce(e.callee as ReduceFn, x, level);
      case "frac":
        return g.reduce("mean", g.toNum(x), level);
      case "std": {
        let ddof = 0;
        if (extra !== undefined) {
          // The checker admits a constant expression of params; params are fixed per plan here.
          const c = g.node(extra);
          const v = c.op === "const" ? c.value : c.op === "param" ? this.p.params.find((q) => q.name === c.name)?.value : undefined;
          if (v === undefined) throw new Error("IR: std's ddof must be a constant");
          ddof = v;
        }
        return g.reduce("std", x, level, { ddof });
      }
      case "median":
        return g.reduce("quantile", x, level, { q: g.const(0.5) });
      case "quantile":
        return g.reduce("quantile", x, level, { q: extra! });
      case "cumsum":
      case "suffix_sum": {
        // The checker's level of x (token or step): folding may have made the node coarser.
        const lvl = e.args[0]!.value.level as Level;
        const xs = g.node(x).op === "const" ? g.binary("mul", g.ones(lvl), x) : g.bcast(x, lvl);
        return g.scan(e.callee === "cumsum" ? "prefix" : "suffix", xs, extra ?? g.const(1));
      }
      default:
        throw new Error(`IR: no lowering for reduction ${e.callee}`);
    }
  }
}
