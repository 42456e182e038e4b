// Every expression written in a pipeline's items: params, lets, fn bodies, stage conditions
// and settings, advantage. Hover uses it to find a fn's call sites, completion to list names.
import type * as A from "../ast.js";

export function* rootExprs(items: readonly A.Item[]): Generator<A.Expr> {
  for (const it of items) {
    switch (it.kind) {
      case "param":
        yield it.value;
        if (it.range) yield* [it.range.lo, it.range.hi];
        break;
      case "let":
      case "advantage":
        yield it.value;
        break;
      case "fn":
        yield it.body;
        break;
      case "stage":
        yield it.until;
        yield* settingExprs(it.body);
        break;
      case "setting":
        yield* settingExprs([it]);
        break;
    }
  }
}

function* settingExprs(settings: readonly A.Setting[]): Generator<A.Expr> {
  for (const s of settings) {
    const v = s.value;
    if (v?.kind === "expr") yield v.expr;
    else if (v?.kind === "range") yield* [v.lo, v.hi];
    else if (v?.kind === "list") for (const i of v.items) if (i.kind === "expr") yield i.expr;
    if (s.block) yield* settingExprs(s.block);
  }
}
