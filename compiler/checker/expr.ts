// Expression checking: resolve names, infer each node's granularity and type, check
// reductions, instantiate `fn` bodies at their call sites, and evaluate constants.
import type * as A from "../ast.js";
import { FUNCTIONS, QUANTITIES, STEP_CHECKER_TASKS, type Context } from "../builtins.js";
import { suggest, type Diagnostics } from "../diagnostics.js";
import { finer, isFinerThan, REDUCTION_TARGETS, type Level } from "../levels.js";
import { MAX_EXPANSION, MAX_NESTING } from "../limits.js";
import { binaryValue as irBinaryValue, BINARY_FN, BOOL_RESULT, callValue, unaryValue as irUnaryValue } from "../ir/fold.js";
import { cloneExpr, exprSize, foldExpr } from "../walk.js";

export interface Typed {
  level: Level;
  type: A.ValueType;
}

/** What an expression may refer to, after `extends` and `--set` are applied. */
export interface ExprEnv {
  params: Map<string, A.ParamDecl>;
  lets: Map<string, A.LetDecl>;
  fns: Map<string, A.FnDecl>;
  hasSegment: boolean;
  hasAttribution: boolean;
  /** The task's kind word, null when the pipeline names none (step_reward needs a task with a step checker). */
  taskKind: string | null;
  /** Whether `rollout` sets `mc_rollouts` (mc_value and mc_next need it). */
  hasMcRollouts: boolean;
  /** Whether the pipeline declares a `judge` block (judge_score needs it). */
  hasJudge: boolean;
}

/** A `fn` parameter bound at a call site. */
interface Binding {
  index: number;
  typed: Typed;
}

const CONTEXT_HOME: Record<Exclude<Context, "any">, string> = {
  kl: "a stage's `kl` setting",
  until: "a stage's `until` condition",
};

export class ExprChecker {
  /** Checked lets; null while a let is being checked (to find cycles). */
  private readonly letTypes = new Map<string, Typed | null | undefined>();
  /** Lets in dependency order, filled as they are checked. */
  readonly letOrder: string[] = [];
  private readonly paramValues = new Map<string, number | null>();
  private readonly fnStack: string[] = [];
  /** Built-in quantities used anywhere outside stage-local settings (for requirement checks). */
  readonly usedBuiltins = new Map<string, A.Span>();

  /** Lets, params and fn calls being resolved inside one another right now. */
  private active = 0;
  /** Expression nodes copied into fn call sites so far. */
  private expanded = 0;
  /** Whether a definition chain has been reported too deep (once is enough; values along it are unknown). */
  tooDeep = false;

  constructor(private readonly env: ExprEnv, private readonly diags: Diagnostics) {}

  /**
   * Resolving a let, param or fn call checks its definition first; those that refer to one
   * another recurse, so their chain is bounded like nesting (each level costs stack here
   * and in lowering). Reports and returns false past the limit; on true the caller must
   * decrement `active` when done.
   */
  private enterDefinition(what: string, span: A.Span): boolean {
    if (this.active >= MAX_NESTING) {
      // Every definition up the chain fails with this one; report where it crossed the limit only.
      if (this.tooDeep) return false;
      this.tooDeep = true;
      this.diags.error("E0105", `${what} is defined through a chain of more than ${MAX_NESTING} lets, params or fn calls`, span, "each definition that uses another counts one level; flatten the chain");
      return false;
    }
    this.active++;
    return true;
  }

  /** Check `e` and annotate it; undefined when an error was reported inside it. Chains of operators are walked without recursion. */
  check(e: A.Expr, ctx: Context, scope?: Map<string, Binding>, uses?: Map<string, A.Span>): Typed | undefined {
    const u = uses ?? this.usedBuiltins;
    const annotate = (x: A.Expr, t: Typed | undefined): Typed | undefined => {
      if (t) {
        x.level = t.level;
        x.type = t.type;
      }
      return t;
    };
    return foldExpr<Typed | undefined>(
      e,
      (x) => annotate(x, this.leaf(x, ctx, scope, u)),
      (x, parts) => annotate(x, this.combine(x, parts)),
    );
  }

  /** The type of a node without operands: a literal, a name or a call. */
  private leaf(e: A.Expr, ctx: Context, scope: Map<string, Binding> | undefined, uses: Map<string, A.Span>): Typed | undefined {
    switch (e.kind) {
      case "number":
        return { level: "scalar", type: "num" };
      case "bool":
        return { level: "scalar", type: "bool" };
      case "string":
        this.diags.error("E0302", "a string is not a value in an expression", e.span, "strings are for paths and marker lists");
        return undefined;
      case "name":
        return this.name(e, ctx, scope, uses);
      case "call":
        return this.call(e, ctx, scope, uses);
      default:
        throw new Error(`checker: ${e.kind} has operands`);
    }
  }

  /** The type of a unary, binary or `if` node from its operands' types (undefined: an error was reported inside). */
  private combine(e: A.Expr, parts: (Typed | undefined)[]): Typed | undefined {
    switch (e.kind) {
      case "unary": {
        const t = parts[0];
        if (!t) return undefined;
        const want: A.ValueType = e.op === "not" ? "bool" : "num";
        if (!this.expectType(e.operand, t, want, e.op === "not" ? "`not`" : "`-`")) return undefined;
        return { level: t.level, type: want };
      }
      case "binary": {
        const [l, r] = parts;
        if (!l || !r) return undefined;
        const level = finer(l.level, r.level);
        if (e.op === "and" || e.op === "or") {
          if (!this.expectType(e.left, l, "bool", `\`${e.op}\``) || !this.expectType(e.right, r, "bool", `\`${e.op}\``)) return undefined;
          return { level, type: "bool" };
        }
        if (e.op === "==" || e.op === "!=") {
          if (l.type !== r.type) {
            this.diags.error("E0302", `cannot compare a ${typeName(l.type)} with a ${typeName(r.type)}`, e.span);
            return undefined;
          }
          return { level, type: "bool" };
        }
        const what = `\`${e.op}\``;
        if (!this.expectType(e.left, l, "num", what) || !this.expectType(e.right, r, "num", what)) return undefined;
        return { level, type: ["<", "<=", ">", ">="].includes(e.op) ? "bool" : "num" };
      }
      case "if": {
        const [c, y, n] = parts;
        if (!c || !y || !n) return undefined;
        if (!this.expectType(e.cond, c, "bool", "an `if` condition")) return undefined;
        if (y.type !== n.type) {
          this.diags.error("E0302", `the branches of \`if\` differ: \`then\` is a ${typeName(y.type)}, \`else\` a ${typeName(n.type)}`, e.else.span);
          return undefined;
        }
        return { level: finer(c.level, finer(y.level, n.level)), type: y.type };
      }
      default:
        throw new Error(`checker: ${e.kind} has no operands`);
    }
  }

  private expectType(e: A.Expr, t: Typed, want: A.ValueType, what: string): boolean {
    if (t.type === want) return true;
    const hint = want === "num" ? "turn a condition into a number with `if c then 1 else 0`" : "compare it, e.g. `x > 0`";
    this.diags.error("E0302", `${what} needs a ${typeName(want)}, found a ${typeName(t.type)}`, e.span, hint);
    return false;
  }

  private name(e: A.NameExpr, ctx: Context, scope: Map<string, Binding> | undefined, uses: Map<string, A.Span>): Typed | undefined {
    const bound = scope?.get(e.name);
    if (bound) {
      e.ref = { kind: "arg", index: bound.index, name: e.name };
      return bound.typed;
    }
    if (this.env.lets.has(e.name)) {
      e.ref = { kind: "let", name: e.name };
      return this.letType(e.name, e.span);
    }
    if (this.env.params.has(e.name)) {
      e.ref = { kind: "param", name: e.name };
      return { level: "scalar", type: "num" };
    }
    const q = QUANTITIES[e.name];
    if (q) {
      e.ref = { kind: "builtin", name: e.name };
      if (q.context !== "any" && q.context !== ctx) {
        this.diags.error("E0206", `\`${e.name}\` is only available in ${CONTEXT_HOME[q.context]}`, e.span);
        return undefined;
      }
      if (q.requires === "segment" && !this.env.hasSegment) {
        this.diags.error("E0404", `\`${e.name}\` is a step-level quantity, but the pipeline has no \`segment\` rule`, e.span, "add e.g. segment newline { min_gap 1 }");
        return undefined;
      }
      if (q.requires === "step_checker" && !(this.env.hasSegment && this.env.taskKind !== null && STEP_CHECKER_TASKS.includes(this.env.taskKind))) {
        this.diags.error("E0404", `\`${e.name}\` is the task's step checker's reward per step; it needs \`segment\` and a task with a step checker (${STEP_CHECKER_TASKS.join(", ")})`, e.span, this.env.hasSegment ? "use task countdown, or score steps otherwise (e.g. C or step_entropy)" : "add e.g. segment newline { min_gap 1 }");
        return undefined;
      }
      if (q.requires === "mc_rollouts" && !(this.env.hasSegment && this.env.hasMcRollouts)) {
        this.diags.error("E0404", `\`${e.name}\` is a Monte-Carlo step value; it needs \`segment\` and \`mc_rollouts\` in \`rollout\``, e.span, this.env.hasSegment ? "add e.g. mc_rollouts 4 to the rollout block" : "add e.g. segment newline { min_gap 1 }");
        return undefined;
      }
      if (q.requires === "judge" && !(this.env.hasSegment && this.env.hasJudge)) {
        this.diags.error("E0404", `\`${e.name}\` is a judge model's score per step; it needs \`segment\` and a \`judge\` block`, e.span, this.env.hasSegment ? 'add e.g. judge { model "../models/countdown-tiny"  verdict " correct" }' : "add e.g. segment newline { min_gap 1 }");
        return undefined;
      }
      if (q.requires === "attribution" && !this.env.hasAttribution) {
        this.diags.error("E0404", "`C` is the attribution score, but the pipeline has no `attribution` setting", e.span, "add e.g. attribution loglik { judge policy }");
        return undefined;
      }
      if (!uses.has(e.name)) uses.set(e.name, e.span);
      return { level: q.level, type: q.type };
    }
    if (FUNCTIONS[e.name] || this.env.fns.has(e.name)) {
      this.diags.error("E0201", `\`${e.name}\` is a function, not a value`, e.span, FUNCTIONS[e.name]?.reduction ? `call it, e.g. ${e.name}(x over group)` : `call it: ${e.name}(...)`);
      return undefined;
    }
    if (REDUCTION_TARGETS[e.name]) {
      this.diags.error("E0201", `\`${e.name}\` is a level, not a value`, e.span, `levels appear after \`over\`, e.g. mean(r over ${e.name})`);
      return undefined;
    }
    const visible = [...(scope?.keys() ?? []), ...this.env.lets.keys(), ...this.env.params.keys(), ...Object.keys(QUANTITIES).filter((k) => QUANTITIES[k]!.context === "any" || QUANTITIES[k]!.context === ctx)];
    this.diags.error("E0201", `unknown name \`${e.name}\``, e.span, suggest(e.name, visible) ?? "declare it with `let` or `param`");
    return undefined;
  }

  /** The type of a let, checking it on first use; reports recursive definitions. */
  letType(name: string, useSpan: A.Span): Typed | undefined {
    if (this.letTypes.has(name)) {
      const t = this.letTypes.get(name);
      if (t === null) {
        this.diags.error("E0207", `\`${name}\` is defined in terms of itself`, useSpan, "a let may not refer to itself, directly or through other lets");
        return undefined;
      }
      return t;
    }
    const decl = this.env.lets.get(name)!;
    if (!this.enterDefinition(`let \`${name}\``, useSpan)) return undefined;
    this.letTypes.set(name, null);
    const t = this.check(decl.value, "any");
    this.active--;
    this.letTypes.set(name, t);
    this.letOrder.push(name);
    return t;
  }

  private call(e: A.CallExpr, ctx: Context, scope: Map<string, Binding> | undefined, uses: Map<string, A.Span>): Typed | undefined {
    const user = this.env.fns.get(e.callee);
    if (user) return this.userCall(e, user, ctx, scope, uses);
    const f = FUNCTIONS[e.callee];
    if (!f) {
      const names = [...Object.keys(FUNCTIONS), ...this.env.fns.keys()];
      this.diags.error("E0204", `unknown function \`${e.callee}\``, e.calleeSpan, suggest(e.callee, names) ?? `functions: ${names.join(", ")}`);
      return undefined;
    }
    const over = e.args[0]?.over;
    for (const [i, a] of e.args.entries()) {
      if (i > 0 && a.over) {
        this.diags.error("E0208", "`over` belongs to the first argument of a reduction", a.over.span);
        return undefined;
      }
    }
    if (over) return this.reduction(e, f, over, ctx, scope, uses);
    if (f.scan) {
      this.diags.error("E0208", `\`${e.callee}\` runs along a response and needs \`over seq\`: ${e.callee}(x over seq)`, e.span, `e.g. ${e.callee}(r_t over seq, 0.99)`);
      return undefined;
    }
    if (f.arity === undefined) {
      this.diags.error("E0208", `\`${e.callee}\` is a reduction and needs a level: ${e.callee}(x over group|seq|step|batch)`, e.span, `e.g. ${e.callee}(r over group)`);
      return undefined;
    }
    if (e.args.length !== f.arity) {
      const hint = f.reduction && e.args.length === 1 ? `to reduce, write ${e.callee}(x over group|seq|step|batch)` : f.doc;
      this.diags.error("E0205", `\`${e.callee}\` takes ${f.arity} argument${f.arity === 1 ? "" : "s"}, found ${e.args.length}`, e.span, hint);
      return undefined;
    }
    let level: Level = "scalar";
    for (const a of e.args) {
      const t = this.check(a.value, ctx, scope, uses);
      if (!t || !this.expectType(a.value, t, f.argType, `\`${e.callee}\``)) return undefined;
      level = finer(level, t.level);
    }
    return { level, type: "num" };
  }

  private reduction(e: A.CallExpr, f: (typeof FUNCTIONS)[string], over: { name: string; span: A.Span }, ctx: Context, scope: Map<string, Binding> | undefined, uses: Map<string, A.Span>): Typed | undefined {
    if (!f.reduction) {
      this.diags.error("E0208", `\`${e.callee}\` is not a reduction; \`over\` applies to mean, std, sum, min, max, median, quantile, frac`, over.span);
      return undefined;
    }
    const target = REDUCTION_TARGETS[over.name];
    if (!target) {
      this.diags.error("E0208", `unknown level \`${over.name}\` after \`over\``, over.span, suggest(over.name, ["batch", "group", "seq", "step"]));
      return undefined;
    }
    if (target === "step" && !this.env.hasSegment) {
      this.diags.error("E0404", "reducing over steps needs a `segment` rule", over.span);
      return undefined;
    }
    const nExtra = e.args.length - 1;
    const extra = f.extra;
    if (nExtra > (extra ? 1 : 0) || (extra?.required && nExtra < 1)) {
      const shape = extra ? `${e.callee}(x over L${extra.required ? "" : "["}, ${extra.name}${extra.required ? "" : "]"})` : `${e.callee}(x over L)`;
      this.diags.error("E0205", `\`${e.callee}\` takes ${shape}, found ${e.args.length} argument${e.args.length === 1 ? "" : "s"}`, e.span);
      return undefined;
    }
    if (f.scan && target !== "sequence") {
      this.diags.error("E0208", `\`${e.callee}\` runs along a response: write ${e.callee}(x over seq)`, over.span);
      return undefined;
    }
    const x = this.check(e.args[0]!.value, ctx, scope, uses);
    if (!x || !this.expectType(e.args[0]!.value, x, f.argType, `\`${e.callee}\``)) return undefined;
    if (f.scan && !isFinerThan(x.level, target)) {
      this.diags.error("E0208", `\`${e.callee}\` runs along a response's tokens or steps, but its argument is a ${x.level}-level value`, e.args[0]!.value.span, "give it a token or step value, e.g. a sequence value at the last token: if position == length - 1 then r else 0");
      return undefined;
    }
    if (!isFinerThan(x.level, target)) {
      this.diags.error(
        "E0208",
        `\`${e.callee}(… over ${over.name})\` reduces to ${target} level, but its argument is already a ${x.level}-level value`,
        e.args[0]!.value.span,
        `a reduction over ${over.name} needs a finer value (${levelsFinerThan(target)})`,
      );
      return undefined;
    }
    if (extra && nExtra === 1) {
      const a = e.args[1]!.value;
      const t = this.check(a, ctx, scope, uses);
      if (!t || !this.expectType(a, t, "num", `\`${extra.name}\``)) return undefined;
      // quantile's q may depend on the batch (e.g. its token count: Clip-Cov picks a count of tokens).
      const batchOk = extra.name === "q" && t.level === "batch";
      if (t.level !== "scalar" && !batchOk) {
        this.diags.error("E0301", `\`${extra.name}\` of \`${e.callee}\` must be ${extra.name === "q" ? "a scalar or batch-level value" : "a scalar"}, found a ${t.level}-level value`, a.span);
        return undefined;
      }
      const v = this.constValue(a);
      if (typeof v === "number" && (v < extra.min || v > extra.max || (extra.integer && !Number.isInteger(v)))) {
        this.diags.error("E0401", `\`${extra.name}\` of \`${e.callee}\` must be ${extra.integer ? `${extra.min} or ${extra.max}` : `in [${extra.min}, ${extra.max}]`}, found ${v}`, a.span);
        return undefined;
      }
    }
    return { level: f.scan ? x.level : target, type: "num" };
  }

  private userCall(e: A.CallExpr, fn: A.FnDecl, ctx: Context, scope: Map<string, Binding> | undefined, uses: Map<string, A.Span>): Typed | undefined {
    if (e.args.length !== fn.params.length) {
      this.diags.error("E0205", `\`${fn.name}\` takes ${fn.params.length} argument${fn.params.length === 1 ? "" : "s"}, found ${e.args.length}`, e.span, `defined as fn ${fn.name}(${fn.params.map((p) => p.name).join(", ")}) at line ${fn.span.line}`);
      return undefined;
    }
    const bindings = new Map<string, Binding>();
    for (const [i, a] of e.args.entries()) {
      if (a.over) {
        this.diags.error("E0208", "`over` is only for reductions; user functions take plain values", a.over.span);
        return undefined;
      }
      const t = this.check(a.value, ctx, scope, uses);
      if (!t) return undefined;
      bindings.set(fn.params[i]!.name, { index: i, typed: t });
    }
    if (this.fnStack.includes(fn.name)) {
      this.diags.error("E0207", `\`${fn.name}\` calls itself`, e.calleeSpan, "functions may not be recursive");
      return undefined;
    }
    // Each call site gets its own copy of the body, checked at the levels of its arguments.
    if (this.expanded > MAX_EXPANSION) return undefined; // reported at the call that crossed the limit
    this.expanded += exprSize(fn.body);
    if (this.expanded > MAX_EXPANSION) {
      this.diags.error("E0105", `calls of \`fn\`s expand to more than ${MAX_EXPANSION} expression nodes`, e.calleeSpan, "each call copies the function's body; name shared parts with `let` instead of calling fns of fns");
      return undefined;
    }
    if (!this.enterDefinition(`fn \`${fn.name}\``, e.calleeSpan)) return undefined;
    const body = cloneExpr(fn.body);
    this.fnStack.push(fn.name);
    const t = this.check(body, ctx, bindings, uses);
    this.fnStack.pop();
    this.active--;
    if (!t) return undefined;
    e.body = body;
    return t;
  }

  /** The value of a param, evaluating its declaration (which may use other params). */
  paramValue(name: string): number | undefined {
    if (this.paramValues.has(name)) {
      const v = this.paramValues.get(name);
      if (v === null) return undefined;
      return v;
    }
    const decl = this.env.params.get(name)!;
    if (!this.enterDefinition(`param \`${name}\``, decl.value.span)) return undefined;
    this.paramValues.set(name, null);
    const v = this.constValue(decl.value, new Set([name]));
    this.active--;
    const num = typeof v === "number" ? v : undefined;
    this.paramValues.set(name, num ?? null);
    return num;
  }

  /**
   * The value of a constant expression (literals, params, arithmetic, elementwise
   * functions), or undefined when it depends on anything else. Reports nothing.
   */
  constValue(e: A.Expr, visiting: Set<string> = new Set()): number | boolean | undefined {
    type V = number | boolean | undefined;
    return foldExpr<V>(
      e,
      (x) => {
        switch (x.kind) {
          case "number":
          case "bool":
            return x.value;
          case "name": {
            if (!this.env.params.has(x.name) || this.env.lets.has(x.name)) return undefined;
            if (visiting.has(x.name) && this.paramValues.get(x.name) === null) return undefined;
            return this.paramValue(x.name);
          }
          case "call": {
            if (x.args.some((a) => a.over) || this.env.fns.has(x.callee)) return undefined;
            const vs = x.args.map((a) => this.constValue(a.value, visiting));
            if (vs.some((v) => typeof v !== "number")) return undefined;
            return callValue(x.callee, vs as number[]);
          }
          default:
            return undefined;
        }
      },
      (x, p) => {
        if (x.kind === "unary") return p[0] === undefined ? undefined : unaryValue(x.op, p[0]);
        if (x.kind === "binary") return p[0] === undefined || p[1] === undefined ? undefined : binaryValue(x.op, p[0], p[1]);
        // if: both branches are folded (no side effects); the condition picks one.
        return typeof p[0] !== "boolean" ? undefined : p[0] ? p[1] : p[2];
      },
    );
  }
}

/** The operators a pair of conditions takes; numbers take every other one. */
const BOOL_OPERANDS: ReadonlySet<A.BinaryOp> = new Set<A.BinaryOp>(["and", "or", "==", "!="]);

/**
 * `l op r` on constants, computed by the IR's arithmetic (`ir/fold.ts`) so that a folded
 * constant means what the lowered expression computes; undefined when the operands do not
 * fit the operator (mixed types, arithmetic on conditions, `and` on numbers), which the
 * type check reports.
 */
export function binaryValue(op: A.BinaryOp, l: number | boolean, r: number | boolean): number | boolean | undefined {
  const conditions = typeof l === "boolean";
  if (conditions !== (typeof r === "boolean")) return undefined;
  if (conditions ? !BOOL_OPERANDS.has(op) : op === "and" || op === "or") return undefined;
  const fn = BINARY_FN[op];
  const v = irBinaryValue(fn, +l, +r);
  return BOOL_RESULT.has(fn) ? v !== 0 : v;
}

/** `-v` or `not v` on a constant, by the IR's arithmetic; undefined when the operand has the wrong type. */
function unaryValue(op: A.UnaryExpr["op"], v: number | boolean): number | boolean | undefined {
  if (op === "neg") return typeof v === "number" ? irUnaryValue("neg", v) : undefined;
  return typeof v === "boolean" ? irUnaryValue("not", +v) !== 0 : undefined;
}

function typeName(t: A.ValueType): string {
  return t === "num" ? "number" : "condition (true/false)";
}

function levelsFinerThan(l: Level): string {
  const all: Level[] = ["batch", "group", "sequence", "step", "token"];
  return all.filter((x) => isFinerThan(x, l)).join(", ");
}
