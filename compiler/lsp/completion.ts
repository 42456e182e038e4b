// Completion candidates for a cursor: the settings of the enclosing block, kind words,
// built-in quantities and functions, the params, lets and fns in scope, levels after `over`,
// metric names and stage names.
import type * as A from "../ast.js";
import { FUNCTIONS, OVER_NAMES, QUANTITIES } from "../builtins.js";
import { REDUCTION_TARGETS } from "../levels.js";
import { cursorContext, type Slot } from "./context.js";
import { describeTyped } from "./hover.js";
import { BLOCK_KEYS, METRIC_KINDS, SETTING_KINDS, TOP_STATEMENTS } from "./settings-table.js";

export type CandidateKind = "setting" | "keyword" | "kind" | "quantity" | "function" | "param" | "let" | "fn" | "level" | "metric" | "stage";

export interface Candidate {
  label: string;
  kind: CandidateKind;
  detail?: string;
  documentation?: string;
}

export function complete(text: string, offset: number, ast: A.PipelineAst | undefined): Candidate[] {
  const ctx = cursorContext(text, offset);
  return candidatesFor(ctx.slot, ctx.block, ctx.declared, ast);
}

function candidatesFor(slot: Slot, block: string | undefined, declared: ReturnType<typeof cursorContext>["declared"], ast: A.PipelineAst | undefined): Candidate[] {
  switch (slot.kind) {
    case "key": {
      const keys = (block && BLOCK_KEYS[block]) || [];
      const settings = keys.map((k): Candidate => ({ label: k, kind: "setting", detail: `setting of ${block}` }));
      if (block !== "pipeline") return settings;
      return [...settings, ...TOP_STATEMENTS.map((k): Candidate => ({ label: k, kind: "keyword" }))];
    }
    case "kind":
      return (SETTING_KINDS[slot.key] ?? []).map((k) => ({ label: k, kind: "kind", detail: `${slot.key} ${k} { ... }` }));
    case "over":
      return OVER_NAMES.map((n) => ({ label: n, kind: "level", detail: `one value per ${REDUCTION_TARGETS[n]}` }));
    case "metric": {
      const k = slot.samples ?? 8;
      return METRIC_KINDS.map((m) => ({ label: `${m}@${k}`, kind: "metric", detail: m === "acc" ? `mean accuracy over ${k} samples` : `unbiased pass@${k}` }));
    }
    case "stage": {
      const names = unique([...declared.stage, ...itemNames(ast, "stage")]);
      return [...names.map((n): Candidate => ({ label: n, kind: "stage" })), { label: "initial", kind: "keyword", detail: "the policy as loaded" }, { label: "end", kind: "keyword", detail: "stop after this stage" }];
    }
    case "expr":
      return exprCandidates(slot, declared, ast);
    case "none":
      return [];
  }
}

function exprCandidates(slot: Slot & { kind: "expr" }, declared: ReturnType<typeof cursorContext>["declared"], ast: A.PipelineAst | undefined): Candidate[] {
  const out: Candidate[] = slot.fnParams.map((p) => ({ label: p, kind: "param", detail: "fn parameter" }));
  const shadowed = new Set(slot.fnParams);
  for (const name of unique([...itemNames(ast, "param"), ...declared.param])) if (!shadowed.has(name)) out.push({ label: name, kind: "param", detail: "param (scalar)" });
  for (const name of unique([...itemNames(ast, "let"), ...declared.let])) if (!shadowed.has(name)) out.push({ label: name, kind: "let", detail: letDetail(ast, name) });
  for (const name of unique([...itemNames(ast, "fn"), ...declared.fn])) out.push({ label: name, kind: "fn", detail: "fn" });
  for (const [name, q] of Object.entries(QUANTITIES)) {
    if (shadowed.has(name) || (q.context !== "any" && q.context !== slot.context)) continue;
    out.push({ label: name, kind: "quantity", detail: `built-in ${describeTyped(q.level, q.type)}`, documentation: q.doc });
  }
  for (const [name, f] of Object.entries(FUNCTIONS)) out.push({ label: name, kind: "function", detail: "built-in function", documentation: f.doc });
  for (const k of ["if", "then", "else", "and", "or", "not", "true", "false"]) out.push({ label: k, kind: "keyword" });
  return out;
}

function letDetail(ast: A.PipelineAst | undefined, name: string): string {
  const d = ast?.items.find((it): it is A.LetDecl => it.kind === "let" && it.name === name);
  return d?.value.level && d.value.type ? `let: ${describeTyped(d.value.level, d.value.type)}` : "let";
}

function itemNames(ast: A.PipelineAst | undefined, kind: "param" | "let" | "fn" | "stage"): string[] {
  return (ast?.items ?? []).flatMap((it) => (it.kind === kind ? [it.name] : []));
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}
