// Hover text: an expression's level and type as the checker inferred them, a built-in's
// meaning and level from compiler/builtins.ts (the table spec/language.md is written from),
// and what a user-declared name is.
import { basename } from "node:path";
import type * as A from "../ast.js";
import { FUNCTIONS, QUANTITIES, type Quantity } from "../builtins.js";
import { REDUCTION_TARGETS } from "../levels.js";
import { allNodes } from "../walk.js";
import type { Hit } from "./locate.js";
import { rootExprs } from "./roots.js";
import { findDecl } from "./scope.js";

/** "token-level number", "sequence-level condition". */
export function describeTyped(level: string, type: A.ValueType): string {
  return `${level}-level ${type === "num" ? "number" : "condition"}`;
}

function typedOf(e: A.Expr): string | undefined {
  return e.level && e.type ? describeTyped(e.level, e.type) : undefined;
}

const CONTEXT_NOTE: Record<Quantity["context"], string> = {
  any: "",
  kl: " Only in a stage's `kl` setting.",
  until: " Only in a stage's `until` condition.",
};

function builtinQuantity(name: string): string {
  const q = QUANTITIES[name]!;
  const needs = q.requires === "step_checker" ? " Needs a `segment` block and a task with a step checker (countdown)." : q.requires === "mc_rollouts" ? " Needs a `segment` block and `mc_rollouts` in `rollout`." : q.requires === "judge" ? " Needs a `segment` block and a `judge` block." : q.requires ? ` Needs a \`${q.requires}\` block.` : "";
  return `\`${name}\`: built-in ${describeTyped(q.level, q.type)}\n\n${q.doc}.${CONTEXT_NOTE[q.context]}${needs}`;
}

function builtinFunction(name: string): string {
  const f = FUNCTIONS[name]!;
  const shape = f.reduction ? (f.arity ? "elementwise function or reduction" : "reduction") : "elementwise function";
  return `\`${name}\`: built-in ${shape}\n\n${f.doc}`;
}

/** Markdown for the hit, or undefined when there is nothing to say. */
export function hoverText(ast: A.PipelineAst, hit: Hit): string | undefined {
  switch (hit.kind) {
    case "expr":
      return exprHover(ast, hit.expr, hit.fn);
    case "callee":
      return calleeHover(ast, hit.call, hit.fn);
    case "over": {
      const level = REDUCTION_TARGETS[hit.name];
      return level ? `\`over ${hit.name}\`: reduces to one value per ${level === "sequence" ? "sequence" : level} (${level} level)` : undefined;
    }
    case "decl":
      return declHover(hit.decl);
    case "fnParam":
      return `parameter \`${hit.fn.params[hit.index]!.name}\` of fn \`${hit.fn.name}\`: its level and type are those of the argument at each call`;
    case "settingKey":
      return `setting \`${hit.setting.key}\` of \`${hit.block}\``;
    case "stageRef":
      return hit.name === "initial" ? "`initial`: the policy as loaded, before any update" : hit.name === "end" ? "`end`: the run stops after this stage" : `stage \`${hit.name}\``;
    case "extends":
      return `extends \`${hit.path}\`: this pipeline's items replace the parent's items of the same name`;
  }
}

function declHover(d: A.ParamDecl | A.LetDecl | A.FnDecl | A.StageDecl): string {
  switch (d.kind) {
    case "param":
      return `param \`${d.name}\`: ${typedOf(d.value) ?? "scalar-level number"}`;
    case "let":
      return `let \`${d.name}\`: ${typedOf(d.value) ?? "level unknown (the definition has errors)"}`;
    case "fn":
      return `fn \`${d.name}(${d.params.map((p) => p.name).join(", ")})\``;
    case "stage":
      return `stage \`${d.name}\``;
  }
}

function exprHover(ast: A.PipelineAst, e: A.Expr, fn: A.FnDecl | undefined): string | undefined {
  if (e.kind === "name") return nameHover(ast, e, fn);
  const typed = typedOf(e);
  if (typed) return `${kindWord(e)}: ${typed}`;
  if (fn) return fnBodyHover(ast, e, fn, kindWord(e));
  return undefined;
}

function kindWord(e: A.Expr): string {
  switch (e.kind) {
    case "number":
      return `\`${e.value}\``;
    case "bool":
      return `\`${e.value}\``;
    case "string":
      return "string";
    case "call":
      return `\`${e.callee}(...)\``;
    default:
      return "expression";
  }
}

function nameHover(ast: A.PipelineAst, e: A.NameExpr, fn: A.FnDecl | undefined): string | undefined {
  if (fn?.params.some((p) => p.name === e.name)) return fnBodyHover(ast, e, fn, `\`${e.name}\` (parameter of fn \`${fn.name}\`)`);
  const decl = findDecl(ast, e.name, ["param", "let"]);
  if (decl) return declHover(decl);
  if (QUANTITIES[e.name]) return builtinQuantity(e.name);
  const typed = typedOf(e);
  return typed ? `\`${e.name}\`: ${typed}` : undefined;
}

function calleeHover(ast: A.PipelineAst, call: A.CallExpr, fn: A.FnDecl | undefined): string | undefined {
  const result = typedOf(call);
  const here = result ? `\n\nHere: ${result}.` : "";
  if (FUNCTIONS[call.callee]) return builtinFunction(call.callee) + here;
  const d = findDecl(ast, call.callee, ["fn"]);
  if (d) return `${declHover(d)}${here}`;
  return fn ? fnBodyHover(ast, call, fn, `\`${call.callee}(...)\``) : undefined;
}

/**
 * A fn body is checked once per call, with that call's argument levels; the declaration's own
 * nodes carry none. List what the node is at each call site, from the instantiated bodies.
 */
function fnBodyHover(ast: A.PipelineAst, e: A.Expr, fn: A.FnDecl, what: string): string {
  const seen: string[] = [];
  for (const root of rootExprs(ast.items)) {
    for (const n of allNodes(root)) {
      if (n.kind !== "call" || n.callee !== fn.name || !n.body) continue;
      for (const m of allNodes(n.body)) {
        if (m.kind === e.kind && m.span.file === e.span.file && m.span.start === e.span.start && m.span.end === e.span.end && m.level && m.type) {
          const where = n.span.file === e.span.file ? `line ${n.span.line}` : `${basename(n.span.file)}:${n.span.line}`;
          seen.push(`- ${describeTyped(m.level, m.type)} at the call on ${where}`);
          break;
        }
      }
    }
  }
  if (seen.length === 0) return `${what}: in fn \`${fn.name}\`, its level follows the arguments of each call (no checked call yet)`;
  return `${what}: in fn \`${fn.name}\`, its level follows the arguments of each call:\n${[...new Set(seen)].join("\n")}`;
}
