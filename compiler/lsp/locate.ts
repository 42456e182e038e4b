// What is under the cursor: the innermost expression, declaration name, setting key, stage
// reference or `extends` path of one file at a character offset. Only nodes written in that
// file count (the merged AST also holds the parents' items, with spans in their own files).
import type * as A from "../ast.js";
import { operandsOf } from "../walk.js";

export type Hit =
  /** An expression node; `fn` is the fn declaration whose body it is written in. */
  | { kind: "expr"; expr: A.Expr; fn?: A.FnDecl; setting?: A.Setting }
  /** The callee name of a call: `mean` in `mean(r over group)`. */
  | { kind: "callee"; call: A.CallExpr; fn?: A.FnDecl }
  /** The level after `over`. */
  | { kind: "over"; name: string; span: A.Span }
  /** The name in a param, let, fn or stage declaration. */
  | { kind: "decl"; decl: A.ParamDecl | A.LetDecl | A.FnDecl | A.StageDecl }
  /** A parameter name in a fn's parameter list. */
  | { kind: "fnParam"; fn: A.FnDecl; index: number }
  /** A setting's key; `block` names the block it is written in. */
  | { kind: "settingKey"; setting: A.Setting; block: string }
  /** A stage named after `then` or `reference`. */
  | { kind: "stageRef"; name: string; span: A.Span }
  | { kind: "extends"; path: string; span: A.Span };

function inside(span: A.Span | undefined, file: string, offset: number): boolean {
  return span !== undefined && span.file === file && span.start <= offset && offset < span.end;
}

/** The hit at `offset`, else the one just before it (a cursor at the end of a word). */
export function locate(ast: A.PipelineAst, file: string, offset: number): Hit | undefined {
  return locateExact(ast, file, offset) ?? (offset > 0 ? locateExact(ast, file, offset - 1) : undefined);
}

function locateExact(ast: A.PipelineAst, file: string, offset: number): Hit | undefined {
  if (ast.extends && inside(ast.extends.span, file, offset)) return { kind: "extends", path: ast.extends.path, span: ast.extends.span };
  for (const it of ast.items) {
    if (!inside(it.span, file, offset)) continue;
    return locateItem(it, file, offset);
  }
  return undefined;
}

function locateItem(it: A.Item, file: string, offset: number): Hit | undefined {
  switch (it.kind) {
    case "param":
      if (inside(it.nameSpan, file, offset)) return { kind: "decl", decl: it };
      return inExprs([it.value, it.range?.lo, it.range?.hi], file, offset);
    case "let":
      if (inside(it.nameSpan, file, offset)) return { kind: "decl", decl: it };
      return inExprs([it.value], file, offset);
    case "fn": {
      if (inside(it.nameSpan, file, offset)) return { kind: "decl", decl: it };
      const index = it.params.findIndex((p) => inside(p.span, file, offset));
      if (index >= 0) return { kind: "fnParam", fn: it, index };
      return inExprs([it.body], file, offset, it);
    }
    case "stage":
      if (inside(it.nameSpan, file, offset)) return { kind: "decl", decl: it };
      if (it.next && inside(it.next.span, file, offset)) return { kind: "stageRef", name: it.next.name, span: it.next.span };
      return inExprs([it.until], file, offset) ?? inSettings(it.body, "stage", file, offset);
    case "advantage":
      return inExprs([it.value], file, offset);
    case "setting":
      return inSettings([it], "pipeline", file, offset);
  }
}

function inSettings(settings: readonly A.Setting[], block: string, file: string, offset: number): Hit | undefined {
  for (const s of settings) {
    if (!inside(s.span, file, offset)) continue;
    if (inside(s.keySpan, file, offset)) return { kind: "settingKey", setting: s, block };
    if (s.key === "reference" && s.value?.kind === "expr" && s.value.expr.kind === "name" && inside(s.value.span, file, offset))
      return { kind: "stageRef", name: s.value.expr.name, span: s.value.expr.span };
    const v = s.value;
    if (v && inside(v.span, file, offset)) {
      const exprs = v.kind === "expr" ? [v.expr] : v.kind === "range" ? [v.lo, v.hi] : v.items.map((i) => (i.kind === "expr" ? i.expr : undefined));
      const hit = inExprs(exprs, file, offset);
      return hit?.kind === "expr" ? { ...hit, setting: s } : hit;
    }
    if (s.block) return inSettings(s.block, s.value?.kind === "expr" && s.value.expr.kind === "name" ? `${s.key} ${s.value.expr.name}` : s.key, file, offset);
    return undefined;
  }
  return undefined;
}

/** The innermost expression node containing `offset` among `roots` (fn bodies at call sites are not searched). */
function inExprs(roots: readonly (A.Expr | undefined)[], file: string, offset: number, fn?: A.FnDecl): Hit | undefined {
  const root = roots.find((r) => r && inside(r.span, file, offset));
  if (!root) return undefined;
  let cur: A.Expr = root;
  for (;;) {
    if (cur.kind === "call") {
      if (inside(cur.calleeSpan, file, offset)) return { kind: "callee", call: cur, fn };
      const over = cur.args.find((a) => a.over && inside(a.over.span, file, offset))?.over;
      if (over) return { kind: "over", name: over.name, span: over.span };
    }
    const children = cur.kind === "call" ? cur.args.map((a) => a.value) : operandsOf(cur);
    const next = children.find((c) => inside(c.span, file, offset));
    if (!next) return { kind: "expr", expr: cur, fn };
    cur = next;
  }
}
