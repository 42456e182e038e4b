// CST -> AST. The parser recovers from errors by inserting or skipping tokens, so any
// child may be missing here; the visitor builds what it can and drops the rest (the
// parser has already reported why).
import type { CstElement, CstNode, IToken } from "chevrotain";
import type * as A from "./ast.js";
import type { Source, Span } from "./source.js";
import { joinSpans } from "./source.js";

type Children = Record<string, CstElement[] | undefined>;

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
    const ch = cst.children as Children;
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
    const ch = n.children as Children;
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
      const value = this.exprOf(a, "value");
      const span = this.nspan(a);
      return value && span ? { kind: "advantage", value, span } : undefined;
    }
    const st = node(ch, "setting");
    return st ? this.setting(st) : undefined;
  }

  private param(n: CstNode): A.ParamDecl | undefined {
    const ch = n.children as Children;
    const name = tok(ch, "name");
    const value = this.exprOf(n, "value");
    const span = this.nspan(n);
    if (!name || !value || !span) return undefined;
    const lo = this.exprOf(n, "lo");
    const hi = this.exprOf(n, "hi");
    return { kind: "param", name: name.image, nameSpan: this.tspan(name), value, range: lo && hi ? { lo, hi } : undefined, span };
  }

  private letDecl(n: CstNode): A.LetDecl | undefined {
    const name = tok(n.children as Children, "name");
    const value = this.exprOf(n, "value");
    const span = this.nspan(n);
    if (!name || !value || !span) return undefined;
    return { kind: "let", name: name.image, nameSpan: this.tspan(name), value, span };
  }

  private fn(n: CstNode): A.FnDecl | undefined {
    const ch = n.children as Children;
    const name = tok(ch, "name");
    const body = this.exprOf(n, "body");
    const span = this.nspan(n);
    if (!name || !body || !span) return undefined;
    const params = (ch.params ?? []).map(realToken).filter((t): t is IToken => t !== undefined);
    return { kind: "fn", name: name.image, nameSpan: this.tspan(name), params: params.map((t) => ({ name: t.image, span: this.tspan(t) })), body, span };
  }

  private stage(n: CstNode): A.StageDecl | undefined {
    const ch = n.children as Children;
    const name = tok(ch, "name");
    const until = this.exprOf(n, "until");
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
    const ch = n.children as Children;
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
    for (const s of nodes(n.children as Children, "setting")) {
      const built = this.setting(s);
      if (built) out.push(built);
    }
    return out;
  }

  private value(n: CstNode): A.Value | undefined {
    const ch = n.children as Children;
    const span = this.nspan(n);
    if (!span) return undefined;
    const list = node(ch, "list");
    if (list) {
      const items: A.ListItem[] = [];
      const lc = list.children as Children;
      // Metrics and expressions are stored under different labels; restore source order.
      const entries: { offset: number; item: A.ListItem }[] = [];
      for (const m of lc.metric ?? []) {
        const t = realToken(m);
        if (!t) continue;
        const [metric, k] = t.image.split("@");
        entries.push({ offset: t.startOffset, item: { kind: "metric", name: metric!, k: Number(k), span: this.tspan(t) } });
      }
      for (const e of nodes(lc, "items")) {
        const expr = this.expr(e);
        if (expr) entries.push({ offset: expr.span.start, item: { kind: "expr", expr, span: expr.span } });
      }
      entries.sort((a, b) => a.offset - b.offset);
      for (const e of entries) items.push(e.item);
      return { kind: "list", items, span };
    }
    const lo = this.exprOf(n, "lo");
    if (!lo) return undefined;
    if (ch.DotDot) {
      const hi = this.exprOf(n, "hi");
      return hi ? { kind: "range", lo, hi, span } : undefined;
    }
    return { kind: "expr", expr: lo, span };
  }

  private exprOf(n: CstNode, key: string): A.Expr | undefined {
    const e = node(n.children as Children, key);
    return e ? this.expr(e) : undefined;
  }

  /** Any expression-level CST node. */
  expr(n: CstNode): A.Expr | undefined {
    const ch = n.children as Children;
    switch (n.name) {
      case "expr": {
        const inner = node(ch, "ifExpr") ?? node(ch, "orExpr");
        return inner ? this.expr(inner) : undefined;
      }
      case "ifExpr": {
        const cond = this.exprOf(n, "cond");
        const yes = this.exprOf(n, "yes");
        const no = this.exprOf(n, "no");
        const span = this.nspan(n);
        if (!cond || !yes || !no || !span) return undefined;
        return { kind: "if", cond, then: yes, else: no, span };
      }
      case "orExpr":
      case "andExpr":
      case "cmpExpr":
      case "addExpr":
      case "mulExpr":
        return this.chain(ch);
      case "notExpr":
      case "unary": {
        const operand = this.exprOf(n, "operand");
        if (!operand) return undefined;
        if (!ch.Kw_not && !ch.Minus) return operand;
        const opTok = tok(ch, ch.Kw_not ? "Kw_not" : "Minus");
        const span = opTok ? joinSpans(this.tspan(opTok), operand.span) : operand.span;
        // Fold -<number> so that `-1` is a literal (constants stay constants).
        if (ch.Minus && operand.kind === "number") return { kind: "number", value: -operand.value, span };
        return { kind: "unary", op: ch.Kw_not ? "not" : "neg", operand, span };
      }
      case "power": {
        const base = this.exprOf(n, "base");
        if (!base) return undefined;
        if (!ch.Caret) return base;
        const exp = this.exprOf(n, "exponent");
        return exp ? { kind: "binary", op: "^", left: base, right: exp, span: joinSpans(base.span, exp.span) } : undefined;
      }
      case "atom":
        return this.atom(n);
      default:
        return undefined;
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

  private atom(n: CstNode): A.Expr | undefined {
    const ch = n.children as Children;
    const span = this.nspan(n);
    if (!span) return undefined;
    const num = tok(ch, "NumberLit");
    if (num) return { kind: "number", value: Number(num.image), span };
    const str = tok(ch, "StringLit");
    if (str) return { kind: "string", value: unquote(str.image), span };
    if (tok(ch, "True")) return { kind: "bool", value: true, span };
    if (tok(ch, "False")) return { kind: "bool", value: false, span };
    const inner = this.exprOf(n, "inner");
    if (inner) return { ...inner, span: inner.span }; // parentheses leave no trace; the span stays the inner one
    const nc = node(ch, "nameOrCall");
    if (!nc) return undefined;
    const nch = nc.children as Children;
    const name = tok(nch, "name");
    if (!name) return undefined;
    if (!nch.LParen) return { kind: "name", name: name.image, span: this.tspan(name) };
    const args: A.Arg[] = [];
    for (const a of nodes(nch, "args")) {
      const ach = a.children as Children;
      const value = this.exprOf(a, "value");
      if (!value) return undefined;
      const level = tok(ach, "level");
      if (ach.Over && !level) return undefined;
      args.push({ value, over: level ? { name: level.image, span: this.tspan(level) } : undefined });
    }
    const cs = this.nspan(nc);
    if (!cs) return undefined;
    return { kind: "call", callee: name.image, calleeSpan: this.tspan(name), args, span: cs };
  }
}

/** The text of a string literal: quotes removed, \" \\ \n \t unescaped. */
export function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
}
