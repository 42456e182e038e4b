// CST -> AST. The parser recovers from errors by inserting or skipping tokens, so any
// child may be missing here; the visitor builds what it can and drops the rest (the
// parser has already reported why).
//
// A child the visitor does not know is a compiler bug, not a user error: CST keys are the
// token and rule names of the grammar, and a key the visitor does not read (as `True` once
// was, while the lexer named the token `Kw_true`) would silently drop the item around it.
// So every node's keys are checked against CST_KEYS, and an unknown one throws (reported
// as an internal compiler error naming the key); test/compiler/cst.test.ts checks that
// CST_KEYS is exactly what the grammar can produce.
import type { CstElement, CstNode, IToken } from "chevrotain";
import type * as A from "./ast.js";
import * as T from "./lexer.js";
import type { Source, Span } from "./source.js";
import { joinSpans } from "./source.js";

type Children = Record<string, CstElement[] | undefined>;

/** A CST the AST builder cannot read: a bug in the compiler. */
export class CstError extends Error {}

const k = (...ts: { name: string }[]): string[] => ts.map((t) => t.name);

/** Every child key of every CST node, by rule: token names, rule names and labels. */
export const CST_KEYS: Readonly<Record<string, readonly string[]>> = {
  file: [...k(T.Pipeline, T.Extends, T.LCurly, T.RCurly), "name", "parent", "item"],
  item: [...k(T.Semicolon), "paramDecl", "letDecl", "fnDecl", "stageDecl", "advantageDecl", "setting"],
  paramDecl: [...k(T.Param, T.Equals, T.In, T.LBracket, T.Comma, T.RBracket), "name", "value", "lo", "hi"],
  letDecl: [...k(T.Let, T.Equals), "name", "value"],
  fnDecl: [...k(T.Fn, T.LParen, T.Comma, T.RParen, T.Equals), "name", "params", "body"],
  stageDecl: [...k(T.Stage, T.Until, T.Then), "name", "until", "next", "block"],
  advantageDecl: [...k(T.Advantage, T.Equals), "value"],
  setting: [...k(T.Semicolon), "key", "block", "value"],
  block: [...k(T.LCurly, T.RCurly), "setting"],
  value: [...k(T.DotDot), "list", "lo", "hi"],
  list: [...k(T.LBracket, T.Comma, T.RBracket), "metric", "items"],
  expr: ["ifExpr", "orExpr"],
  ifExpr: [...k(T.If, T.Then, T.Else), "cond", "yes", "elifs", "no"],
  orExpr: ["operands", "ops"],
  andExpr: ["operands", "ops"],
  notExpr: ["ops", "operand"],
  cmpExpr: ["operands", "ops"],
  addExpr: ["operands", "ops"],
  mulExpr: ["operands", "ops"],
  unary: ["ops", "operand"],
  power: ["base", "carets", "exponents"],
  exponent: ["ops", "operand"],
  atom: [...k(T.NumberLit, T.StringLit, T.True, T.False, T.LParen, T.RParen), "nameOrCall", "inner"],
  nameOrCall: [...k(T.LParen, T.Comma, T.RParen), "name", "args"],
  arg: [...k(T.Over), "value", "level"],
};

const KNOWN = new Map(Object.entries(CST_KEYS).map(([rule, keys]) => [rule, new Set(keys)]));

function isToken(e: CstElement | undefined): e is IToken {
  return e !== undefined && (e as IToken).image !== undefined;
}

function isNode(e: CstElement | undefined): e is CstNode {
  return e !== undefined && (e as CstNode).children !== undefined;
}

/** A token inserted by recovery has no position and stands for nothing the user wrote. */
function realToken(e: CstElement | undefined): IToken | undefined {
  return isToken(e) && !e.isInsertedInRecovery && Number.isFinite(e.startOffset) ? e : undefined;
}

function tok(ch: Children, key: string, i = 0): IToken | undefined {
  return realToken(ch[key]?.[i]);
}

function node(ch: Children, key: string, i = 0): CstNode | undefined {
  const n = ch[key]?.[i];
  return isNode(n) ? n : undefined;
}

function nodes(ch: Children, key: string): CstNode[] {
  return (ch[key] ?? []).filter(isNode);
}

export class AstBuilder {
  constructor(private readonly src: Source) {}

  /** The children of `n`, after checking that the builder knows every key among them. */
  private children(n: CstNode): Children {
    const known = KNOWN.get(n.name);
    if (!known) throw new CstError(`the AST builder has no rule for CST node \`${n.name}\``);
    for (const key of Object.keys(n.children)) {
      if (!known.has(key)) throw new CstError(`CST node \`${n.name}\` has a child \`${key}\` that the AST builder does not read`);
    }
    return n.children as Children;
  }

  private tspan(t: IToken): Span {
    return this.src.span(t.startOffset, (t.endOffset ?? t.startOffset) + 1);
  }

  /** Span of a CST node from the first to the last real token under it. */
  private nspan(n: CstNode): Span | undefined {
    let first: IToken | undefined;
    let last: IToken | undefined;
    const walk = (m: CstNode): void => {
      for (const list of Object.values(m.children)) {
        for (const e of list ?? []) {
          if (isNode(e)) walk(e);
          else {
            const t = realToken(e);
            if (!t) continue;
            if (!first || t.startOffset < first.startOffset) first = t;
            if (!last || t.startOffset > last.startOffset) last = t;
          }
        }
      }
    };
    walk(n);
    if (!first || !last) return undefined;
    return this.src.span(first.startOffset, (last.endOffset ?? last.startOffset) + 1);
  }

  pipeline(cst: CstNode | undefined): A.PipelineAst | undefined {
    if (!cst) return undefined;
    const ch = this.children(cst);
    const name = tok(ch, "name");
    const span = this.nspan(cst);
    if (!name || !span) return undefined;
    const parent = tok(ch, "parent");
    const items: A.Item[] = [];
    for (const it of nodes(ch, "item")) {
      const built = this.item(it);
      if (built) items.push(built);
    }
    return {
      name: name.image,
      nameSpan: this.tspan(name),
      extends: parent ? { path: unquote(parent.image), span: this.tspan(parent) } : undefined,
      items,
      span,
    };
  }

  private item(n: CstNode): A.Item | undefined {
    const ch = this.children(n);
    const p = node(ch, "paramDecl");
    if (p) return this.param(p);
    const l = node(ch, "letDecl");
    if (l) return this.letDecl(l);
    const f = node(ch, "fnDecl");
    if (f) return this.fn(f);
    const s = node(ch, "stageDecl");
    if (s) return this.stage(s);
    const a = node(ch, "advantageDecl");
    if (a) {
      const value = this.exprOf(this.children(a), "value");
      const span = this.nspan(a);
      return value && span ? { kind: "advantage", value, span } : undefined;
    }
    const st = node(ch, "setting");
    return st ? this.setting(st) : undefined;
  }

  private param(n: CstNode): A.ParamDecl | undefined {
    const ch = this.children(n);
    const name = tok(ch, "name");
    const value = this.exprOf(ch, "value");
    const span = this.nspan(n);
    if (!name || !value || !span) return undefined;
    const lo = this.exprOf(ch, "lo");
    const hi = this.exprOf(ch, "hi");
    return { kind: "param", name: name.image, nameSpan: this.tspan(name), value, range: lo && hi ? { lo, hi } : undefined, span };
  }

  private letDecl(n: CstNode): A.LetDecl | undefined {
    const ch = this.children(n);
    const name = tok(ch, "name");
    const value = this.exprOf(ch, "value");
    const span = this.nspan(n);
    if (!name || !value || !span) return undefined;
    return { kind: "let", name: name.image, nameSpan: this.tspan(name), value, span };
  }

  private fn(n: CstNode): A.FnDecl | undefined {
    const ch = this.children(n);
    const name = tok(ch, "name");
    const body = this.exprOf(ch, "body");
    const span = this.nspan(n);
    if (!name || !body || !span) return undefined;
    const params = (ch.params ?? []).map(realToken).filter((t): t is IToken => t !== undefined);
    return { kind: "fn", name: name.image, nameSpan: this.tspan(name), params: params.map((t) => ({ name: t.image, span: this.tspan(t) })), body, span };
  }

  private stage(n: CstNode): A.StageDecl | undefined {
    const ch = this.children(n);
    const name = tok(ch, "name");
    const until = this.exprOf(ch, "until");
    const span = this.nspan(n);
    const block = node(ch, "block");
    if (!name || !until || !span || !block) return undefined;
    const next = tok(ch, "next");
    return {
      kind: "stage",
      name: name.image,
      nameSpan: this.tspan(name),
      until,
      next: next ? { name: next.image, span: this.tspan(next) } : undefined,
      body: this.block(block),
      span,
    };
  }

  private setting(n: CstNode): A.Setting | undefined {
    const ch = this.children(n);
    const key = tok(ch, "key");
    const span = this.nspan(n);
    if (!key || !span) return undefined;
    const v = node(ch, "value");
    const value = v ? this.value(v) : undefined;
    const b = node(ch, "block");
    if (v && !value) return undefined; // the value was lost in recovery; reported already
    if (!value && !b) return undefined;
    return {
      kind: "setting",
      key: key.image,
      keySpan: this.tspan(key),
      value,
      block: b ? this.block(b) : undefined,
      blockSpan: b ? this.nspan(b) : undefined,
      span,
    };
  }

  private block(n: CstNode): A.Setting[] {
    const out: A.Setting[] = [];
    for (const s of nodes(this.children(n), "setting")) {
      const built = this.setting(s);
      if (built) out.push(built);
    }
    return out;
  }

  private value(n: CstNode): A.Value | undefined {
    const ch = this.children(n);
    const span = this.nspan(n);
    if (!span) return undefined;
    const list = node(ch, "list");
    if (list) {
      const items: A.ListItem[] = [];
      const lc = this.children(list);
      // Metrics and expressions are stored under different labels; restore source order.
      const entries: { offset: number; item: A.ListItem }[] = [];
      for (const m of lc.metric ?? []) {
        const t = realToken(m);
        if (!t) continue;
        const [metric, count] = t.image.split("@");
        entries.push({ offset: t.startOffset, item: { kind: "metric", name: metric!, k: Number(count), span: this.tspan(t) } });
      }
      for (const e of nodes(lc, "items")) {
        const expr = this.expr(e);
        if (expr) entries.push({ offset: expr.span.start, item: { kind: "expr", expr, span: expr.span } });
      }
      entries.sort((a, b) => a.offset - b.offset);
      for (const e of entries) items.push(e.item);
      return { kind: "list", items, span };
    }
    const lo = this.exprOf(ch, "lo");
    if (!lo) return undefined;
    if (ch[T.DotDot.name]) {
      const hi = this.exprOf(ch, "hi");
      return hi ? { kind: "range", lo, hi, span } : undefined;
    }
    return { kind: "expr", expr: lo, span };
  }

  private exprOf(ch: Children, key: string): A.Expr | undefined {
    const e = node(ch, key);
    return e ? this.expr(e) : undefined;
  }

  /** Any expression-level CST node. Recursion here follows nesting only (bounded by MAX_NESTING); chains are loops. */
  expr(n: CstNode): A.Expr | undefined {
    const ch = this.children(n);
    switch (n.name) {
      case "expr": {
        const inner = node(ch, "ifExpr") ?? node(ch, "orExpr");
        return inner ? this.expr(inner) : undefined;
      }
      case "ifExpr":
        return this.ifChain(ch);
      case "orExpr":
      case "andExpr":
      case "cmpExpr":
      case "addExpr":
      case "mulExpr":
        return this.chain(ch);
      case "notExpr":
        return this.prefixed(ch, "not");
      case "unary":
      case "exponent":
        return this.prefixed(ch, "neg");
      case "power":
        return this.powerChain(ch);
      case "atom":
        return this.atom(n);
      default:
        throw new CstError(`the AST builder has no rule for CST node \`${n.name}\``);
    }
  }

  /** Left-associative operator chains: operands[0] ops[0] operands[1] ... */
  private chain(ch: Children): A.Expr | undefined {
    const operands = nodes(ch, "operands").map((o) => this.expr(o));
    const ops = (ch.ops ?? []).filter(isToken);
    let acc = operands[0];
    if (!acc) return undefined;
    for (let i = 0; i < ops.length; i++) {
      const right = operands[i + 1];
      if (!right) return undefined;
      acc = { kind: "binary", op: ops[i]!.image as A.BinaryOp, left: acc, right, span: joinSpans(acc.span, right.span) };
    }
    return acc;
  }

  /** A run of prefix operators (`not not c`, `- - x`) applied from the innermost out, to `operand` or the node's own. */
  private prefixed(ch: Children, op: A.UnaryOp, operand?: A.Expr): A.Expr | undefined {
    let acc = operand ?? this.exprOf(ch, "operand");
    if (!acc) return undefined;
    const ops = ch.ops ?? [];
    for (let i = ops.length - 1; i >= 0; i--) {
      const t = realToken(ops[i]);
      const span: Span = t ? joinSpans(this.tspan(t), acc.span) : acc.span;
      // Fold -<number> so that `-1` is a literal (constants stay constants).
      if (op === "neg" && acc.kind === "number") acc = { kind: "number", value: -acc.value, span };
      else acc = { kind: "unary", op, operand: acc, span };
    }
    return acc;
  }

  /** base ^ e1 ^ e2 ... is base ^ (e1 ^ (e2 ...)), each e_i with its own leading minuses. */
  private powerChain(ch: Children): A.Expr | undefined {
    const base = this.exprOf(ch, "base");
    if (!base) return undefined;
    const exps = nodes(ch, "exponents");
    if (exps.length !== (ch.carets ?? []).length) return undefined; // lost in recovery; reported already
    let acc: A.Expr | undefined;
    for (let i = exps.length - 1; i >= 0; i--) {
      const ech = this.children(exps[i]!);
      let inner = this.exprOf(ech, "operand");
      if (!inner) return undefined;
      if (acc) inner = { kind: "binary", op: "^", left: inner, right: acc, span: joinSpans(inner.span, acc.span) };
      acc = this.prefixed(ech, "neg", inner);
    }
    return acc ? { kind: "binary", op: "^", left: base, right: acc, span: joinSpans(base.span, acc.span) } : base;
  }

  /** if c1 then y1 else if c2 then y2 ... else n, folded from the right into nested ifs. */
  private ifChain(ch: Children): A.Expr | undefined {
    const ifs = ch[T.If.name] ?? [];
    const conds = nodes(ch, "cond");
    const yeses = nodes(ch, "yes");
    let acc = this.exprOf(ch, "no");
    if (!acc || conds.length !== ifs.length || yeses.length !== ifs.length) return undefined;
    for (let i = ifs.length - 1; i >= 0; i--) {
      const cond = this.expr(conds[i]!);
      const yes = this.expr(yeses[i]!);
      const kw = realToken(ifs[i]);
      if (!cond || !yes || !kw) return undefined;
      acc = { kind: "if", cond, then: yes, else: acc, span: joinSpans(this.tspan(kw), acc.span) };
    }
    return acc;
  }

  private atom(n: CstNode): A.Expr | undefined {
    const ch = this.children(n);
    const num = tok(ch, T.NumberLit.name);
    if (num) return { kind: "number", value: Number(num.image), span: this.tspan(num) };
    const str = tok(ch, T.StringLit.name);
    if (str) return { kind: "string", value: unquote(str.image), span: this.tspan(str) };
    const yes = tok(ch, T.True.name);
    if (yes) return { kind: "bool", value: true, span: this.tspan(yes) };
    const no = tok(ch, T.False.name);
    if (no) return { kind: "bool", value: false, span: this.tspan(no) };
    const nc = node(ch, "nameOrCall");
    if (nc) return this.nameOrCall(nc);
    // Parentheses leave no trace: the span stays the inner expression's.
    return this.exprOf(ch, "inner");
  }

  private nameOrCall(nc: CstNode): A.Expr | undefined {
    const nch = this.children(nc);
    const name = tok(nch, "name");
    if (!name) return undefined;
    if (!nch[T.LParen.name]) return { kind: "name", name: name.image, span: this.tspan(name) };
    const args: A.Arg[] = [];
    for (const a of nodes(nch, "args")) {
      const ach = this.children(a);
      const value = this.exprOf(ach, "value");
      if (!value) return undefined;
      const level = tok(ach, "level");
      if (ach[T.Over.name] && !level) return undefined;
      args.push({ value, over: level ? { name: level.image, span: this.tspan(level) } : undefined });
    }
    const close = tok(nch, T.RParen.name);
    if (!close) return undefined;
    return { kind: "call", callee: name.image, calleeSpan: this.tspan(name), args, span: this.src.span(name.startOffset, close.startOffset + 1) };
  }
}

/** The text of a string literal: quotes removed, \" \\ \n \t unescaped. */
export function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
}
