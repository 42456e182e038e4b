// Names a position can see and where they are declared: the enclosing fn's parameters, then
// the pipeline's params, lets and fns (this file's over its parents', as `extends` merges them).
import { dirname, resolve } from "node:path";
import type * as A from "../ast.js";
import type { Hit } from "./locate.js";

export type Decl = A.ParamDecl | A.LetDecl | A.FnDecl | A.StageDecl;

/** The param, let, fn or stage declared as `name` (of that kind when given). */
export function findDecl(ast: A.PipelineAst, name: string, kinds: readonly Decl["kind"][] = ["param", "let", "fn", "stage"]): Decl | undefined {
  for (const it of ast.items) if ((it.kind === "param" || it.kind === "let" || it.kind === "fn" || it.kind === "stage") && it.name === name && kinds.includes(it.kind)) return it;
  return undefined;
}

/** Where what the hit names is declared: a span, or a whole file for an `extends` path. */
export type Target = { span: A.Span } | { file: string };

export function definitionOf(ast: A.PipelineAst, file: string, hit: Hit): Target | undefined {
  switch (hit.kind) {
    case "expr": {
      const e = hit.expr;
      if (e.kind !== "name") return undefined;
      const own = hit.fn?.params.find((p) => p.name === e.name);
      if (own) return { span: own.span };
      if (e.ref?.kind === "builtin") return undefined;
      const d = findDecl(ast, e.name, ["param", "let"]);
      return d && { span: d.nameSpan };
    }
    case "callee": {
      const d = findDecl(ast, hit.call.callee, ["fn"]);
      return d && { span: d.nameSpan };
    }
    case "stageRef": {
      const d = findDecl(ast, hit.name, ["stage"]);
      return d && { span: d.nameSpan };
    }
    case "extends":
      return { file: resolve(dirname(resolve(file)), hit.path) };
    case "decl":
      return { span: hit.decl.nameSpan };
    case "fnParam":
      return { span: hit.fn.params[hit.index]!.span };
    default:
      return undefined;
  }
}
