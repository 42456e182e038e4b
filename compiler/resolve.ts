// Loading a pipeline: read and parse the file, follow `extends` (paths relative to the
// extending file), merge the child's items over the parent's, and apply `--set`.
import { dirname, isAbsolute, resolve as resolvePath } from "node:path";
import type * as A from "./ast.js";
import { suggest, type Diagnostics } from "./diagnostics.js";
import { literalRange, parseSource } from "./parse.js";
import { decodeSource, readSource, Source } from "./source.js";

export interface Loaded {
  ast: A.PipelineAst;
  /** Absolute path of the loaded file, then its parents, nearest first. */
  chain: string[];
}

/** Settings that may appear several times; a child's list replaces the parent's whole list. */
const REPEATABLE = new Set(["eval"]);

/**
 * Read, parse and merge `path` and its ancestors. Whole-file failures of the top file
 * are reported without a span; a parent that cannot be loaded is reported at `extends`.
 */
export function loadFile(path: string, diags: Diagnostics, sources: Map<string, Source>, stack: string[] = [], text?: string): Loaded | undefined {
  const abs = resolvePath(path);
  const src = text === undefined ? readSource(path) : decodeSource(path, new TextEncoder().encode(text));
  if (!(src instanceof Source)) {
    diags.add({ code: src.code, message: src.message, file: path, hint: src.hint });
    return undefined;
  }
  sources.set(src.path, src);
  const ast = parseSource(src, diags);
  if (!ast) return undefined;
  reportDuplicates(ast.items, diags);
  if (!ast.extends) return { ast, chain: [abs] };
  const parentPath = resolvePath(dirname(abs), ast.extends.path);
  if (parentPath === abs || stack.includes(parentPath)) {
    diags.error("E0601", `\`extends\` cycle: ${[...stack, abs, parentPath].map((p) => shortName(p)).join(" -> ")}`, ast.extends.span, "a pipeline cannot extend itself, directly or through its parents");
    return { ast, chain: [abs] };
  }
  const probe = readSource(parentPath);
  if (!(probe instanceof Source)) {
    diags.error("E0601", `cannot extend "${ast.extends.path}": ${probe.message}`, ast.extends.span, `the path is relative to ${dirname(abs)}`);
    return { ast, chain: [abs] };
  }
  // Keep the parent's diagnostics under its own path as written relative to the child.
  const rel = relativeTo(src.path, ast.extends.path);
  const parent = loadFile(rel, diags, sources, [...stack, abs]);
  if (!parent) return { ast, chain: [abs] };
  return { ast: { ...ast, items: mergeItems(parent.ast.items, ast.items) }, chain: [abs, ...parent.chain] };
}

function relativeTo(childPath: string, parentRef: string): string {
  if (isAbsolute(parentRef)) return parentRef;
  const d = dirname(childPath);
  return d === "." ? parentRef : `${d}/${parentRef}`.replace(/\/\.\//g, "/");
}

function shortName(p: string): string {
  return p.split("/").pop() ?? p;
}

/** Identity of an item for overriding: items with the same key replace each other. */
export function itemKey(it: A.Item): string {
  switch (it.kind) {
    case "param":
    case "let":
    case "fn":
    case "stage":
      return `${it.kind} ${it.name}`;
    case "advantage":
      return "advantage";
    case "setting":
      return it.key;
  }
}

function itemName(it: A.Item): A.Span {
  return it.kind === "setting" ? it.keySpan : it.kind === "advantage" ? it.span : it.nameSpan;
}

/** Report items (and block settings) defined twice in one file. */
export function reportDuplicates(items: readonly A.Item[], diags: Diagnostics): void {
  const seen = new Map<string, A.Item>();
  const names = new Map<string, string>();
  for (const it of items) {
    if (it.kind === "setting" && it.block) reportDuplicates(it.block, diags);
    if (it.kind === "stage") reportDuplicates(it.body, diags);
    if (it.kind === "setting" && REPEATABLE.has(it.key)) continue;
    const key = itemKey(it);
    const first = seen.get(key);
    if (first) {
      diags.error("E0202", `\`${key}\` is defined twice`, itemName(it), `first defined at line ${itemName(first).line}; remove one`);
      continue;
    }
    seen.set(key, it);
    // A let, param and fn share one namespace.
    if (it.kind === "param" || it.kind === "let" || it.kind === "fn") {
      const other = names.get(it.name);
      if (other) diags.error("E0202", `\`${it.name}\` is already defined as a ${other}`, it.nameSpan, "lets, params and fns share one namespace");
      else names.set(it.name, it.kind);
    }
  }
}

/** Child items override parent items with the same key; blocks of the same kind merge key by key. */
export function mergeItems(parent: readonly A.Item[], child: readonly A.Item[]): A.Item[] {
  const out = [...parent];
  const replacedRepeatable = new Set<string>();
  for (const it of child) {
    const key = itemKey(it);
    if (it.kind === "setting" && REPEATABLE.has(key)) {
      if (!replacedRepeatable.has(key)) {
        replacedRepeatable.add(key);
        for (let i = out.length - 1; i >= 0; i--) if (itemKey(out[i]!) === key) out.splice(i, 1);
      }
      out.push(it);
      continue;
    }
    const i = out.findIndex((p) => itemKey(p) === key);
    if (i < 0) {
      out.push(it);
      continue;
    }
    const prev = out[i]!;
    if (prev.kind === "setting" && it.kind === "setting") out[i] = mergeSetting(prev, it);
    else if (prev.kind === "stage" && it.kind === "stage") out[i] = { ...it, body: mergeItems(prev.body, it.body) as A.Setting[] };
    else out[i] = it;
  }
  return out;
}

function sameValue(a: A.Setting, b: A.Setting): boolean {
  if (!a.value || !b.value) return !a.value && !b.value;
  if (a.value.kind !== "expr" || b.value.kind !== "expr") return false;
  const x = a.value.expr;
  const y = b.value.expr;
  return x.kind === "name" && y.kind === "name" && x.name === y.name;
}

function mergeSetting(parent: A.Setting, child: A.Setting): A.Setting {
  // `rollout { group 16 }` changes one key; `segment newline {...}` over `segment entropy {...}` replaces it.
  if (!parent.block || !child.block || !sameValue(parent, child)) {
    if (parent.block && !child.block && child.value && sameValue(parent, child)) return parent;
    return child;
  }
  return { ...child, block: mergeItems(parent.block, child.block) as A.Setting[] };
}

/**
 * Apply `--set name=value` arguments: each replaces a declared param's value. Each
 * argument is its own Source named `--set[i]` so that diagnostics can point into it.
 */
export function applySets(ast: A.PipelineAst, sets: readonly string[], diags: Diagnostics, sources: Map<string, Source>): A.PipelineAst {
  const items = [...ast.items];
  sets.forEach((arg, i) => {
    const src = new Source(`--set[${i + 1}]`, arg);
    sources.set(src.path, src);
    const eq = arg.indexOf("=");
    if (eq <= 0) {
      diags.error("E0602", `expected NAME=VALUE, found "${arg}"`, src.span(0, Math.max(1, arg.length)), "e.g. --set alpha=0.1");
      return;
    }
    const name = arg.slice(0, eq).trim();
    const text = arg.slice(eq + 1).trim();
    const idx = items.findIndex((it) => it.kind === "param" && it.name === name);
    if (idx < 0) {
      const declared = items.filter((it): it is A.ParamDecl => it.kind === "param").map((p) => p.name);
      diags.error("E0602", `--set names \`${name}\`, which is not a param of this pipeline`, src.span(0, eq), suggest(name, declared, "params") ?? "the pipeline declares no params");
      return;
    }
    const value = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
    const range = Number.isNaN(value) ? undefined : literalRange(text);
    if (range) {
      diags.error("E0602", `--set ${name}: ${range.message}`, src.span(eq + 1, Math.max(eq + 2, arg.length)), range.hint);
      return;
    }
    if (!Number.isFinite(value)) {
      diags.error("E0602", `--set ${name}: expected a number, found "${text}"`, src.span(eq + 1, Math.max(eq + 2, arg.length)));
      return;
    }
    const decl = items[idx] as A.ParamDecl;
    items[idx] = { ...decl, value: { kind: "number", value, span: src.span(eq + 1, arg.length) } };
  });
  return { ...ast, items };
}
