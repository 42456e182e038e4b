// The outline of one file: its pipeline, and in it the stages, params, lets, fns, the
// advantage and the top-level settings, in source order. Items a parent file declares are
// not part of this file's outline.
import type * as A from "../ast.js";

export type SymbolKind = "pipeline" | "stage" | "param" | "let" | "fn" | "advantage" | "setting";

export interface OutlineSymbol {
  name: string;
  kind: SymbolKind;
  detail?: string;
  span: A.Span;
  /** The part to highlight when the symbol is chosen: its name. */
  selection: A.Span;
  children: OutlineSymbol[];
}

export function outline(ast: A.PipelineAst, file: string): OutlineSymbol[] {
  const children = ast.items.filter((it) => it.span.file === file).sort((a, b) => a.span.start - b.span.start).map(itemSymbol);
  if (ast.span.file !== file) return children;
  return [{ name: ast.name, kind: "pipeline", detail: ast.extends ? `extends "${ast.extends.path}"` : undefined, span: ast.span, selection: ast.nameSpan, children }];
}

function itemSymbol(it: A.Item): OutlineSymbol {
  switch (it.kind) {
    case "stage":
      return { name: it.name, kind: "stage", span: it.span, selection: it.nameSpan, children: it.body.map(settingSymbol) };
    case "fn":
      return { name: it.name, kind: "fn", detail: `(${it.params.map((p) => p.name).join(", ")})`, span: it.span, selection: it.nameSpan, children: [] };
    case "param":
    case "let":
      return { name: it.name, kind: it.kind, detail: it.value.level && it.value.type ? `${it.value.level} ${it.value.type}` : undefined, span: it.span, selection: it.nameSpan, children: [] };
    case "advantage":
      return { name: "advantage", kind: "advantage", span: it.span, selection: it.span, children: [] };
    case "setting":
      return settingSymbol(it);
  }
}

function settingSymbol(s: A.Setting): OutlineSymbol {
  const kindWord = s.value?.kind === "expr" && s.value.expr.kind === "name" ? s.value.expr.name : undefined;
  return { name: s.key, kind: "setting", detail: kindWord, span: s.span, selection: s.keySpan, children: [] };
}
