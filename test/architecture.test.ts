// The layering of ARCHITECTURE.md, enforced: every import statement of every .ts file under
// compiler/, runtime/, export/ and cli/ (static, type-only, re-exports and dynamic imports)
// must go to its own layer or to one the table below lets it use. Layers above the compiler
// reach it only through its two API modules.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(".");

/** A layer: the files it holds (path prefixes, first match wins in LAYERS order). */
interface Layer {
  name: string;
  prefixes: string[];
  /** Layers this one may import (besides itself). */
  may: string[];
}

// Lowest first. "compiler API" is the compiler's surface for the layers above it: the front
// end's entry (loading, printing, the resolved pipeline's types) and the compiled artifact.
const LAYERS: Layer[] = [
  { name: "runtime base", prefixes: ["runtime/errors.ts", "runtime/fs-errors.ts", "runtime/gpu.ts", "runtime/kernel.ts", "runtime/line-reader.ts", "runtime/rng.ts", "runtime/tensor.ts", "runtime/write-errors.ts"], may: [] },
  { name: "runtime/ops", prefixes: ["runtime/ops/"], may: ["runtime base"] },
  { name: "runtime/model", prefixes: ["runtime/model/"], may: ["runtime base", "runtime/ops"] },
  { name: "runtime/tasks", prefixes: ["runtime/tasks/"], may: ["runtime base"] },
  { name: "compiler API", prefixes: ["compiler/index.ts", "compiler/plan/artifact.ts"], may: ["compiler", "runtime base", "runtime/ops", "runtime/tasks"] },
  { name: "compiler", prefixes: ["compiler/"], may: ["compiler API", "runtime base", "runtime/ops", "runtime/tasks"] },
  { name: "export", prefixes: ["export/"], may: ["compiler API", "compiler", "runtime base", "runtime/ops", "runtime/tasks"] },
  { name: "runtime/eval", prefixes: ["runtime/eval/"], may: ["runtime base", "runtime/ops", "runtime/model", "runtime/tasks"] },
  { name: "runtime/train", prefixes: ["runtime/train/"], may: ["runtime base", "runtime/ops", "runtime/model", "runtime/tasks", "runtime/eval"] },
  { name: "runtime/rl", prefixes: ["runtime/rl/"], may: ["runtime base", "runtime/ops", "runtime/model", "runtime/tasks", "runtime/eval", "runtime/train", "compiler API"] },
  { name: "runtime/report", prefixes: ["runtime/report/"], may: ["runtime base", "runtime/ops", "runtime/model", "runtime/tasks", "runtime/eval", "runtime/rl", "compiler API"] },
  { name: "cli", prefixes: ["cli/"], may: ["*"] },
];

/**
 * Imports that break the table today and are not fixed yet (issue 12). The test fails on
 * any import not listed here, and on a listed one that is gone (so the list only shrinks).
 */
const KNOWN_EXCEPTIONS: string[] = [];

function layerOf(file: string): Layer | null {
  return LAYERS.find((l) => l.prefixes.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p))) ?? null;
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === "node_modules" ? [] : tsFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/**
 * Module specifiers of a file's import and export-from statements, and of `import("...")`.
 * (TypeScript 7 has no JavaScript parser API.) A statement starts a line with `import` or
 * `export` and ends at its `from "..."`, or is `import "..."`; comment lines are skipped.
 */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  let statement: string | null = null;
  for (const line of text.split("\n")) {
    const code = line.trimStart();
    if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) continue;
    if (statement === null && /^(import|export)\b/.test(code)) statement = "";
    if (statement !== null) {
      statement += ` ${code}`;
      const m = /^\s*(?:(?:import|export)\b[^"']*?\bfrom\s*|import\s*)(["'])([^"']+)\1/.exec(statement);
      if (m) out.push(m[2]!);
      if (m || /;\s*$/.test(code) || !/^\s*(import|export)\s*(type\s*)?(\{|\*|[\w$]+\s*,|[\w$]+\s+from|["'])/.test(statement)) statement = null;
    }
    for (const d of code.matchAll(/\bimport\(\s*(["'])([^"']+)\1\s*\)/g)) out.push(d[2]!);
  }
  return out;
}

/** Repository-relative .ts paths a file imports (relative specifiers only; packages are not layers). */
function importsOf(file: string): string[] {
  return specifiers(readFileSync(join(ROOT, file), "utf8"))
    .filter((s) => s.startsWith("."))
    .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, ".ts"));
}

function violations(): string[] {
  const out: string[] = [];
  for (const file of ["compiler", "runtime", "export", "cli"].flatMap(tsFiles)) {
    const from = layerOf(file);
    if (!from) {
      out.push(`${file}: in no layer (add it to LAYERS in test/architecture.test.ts and ARCHITECTURE.md)`);
      continue;
    }
    for (const target of importsOf(file)) {
      const to = layerOf(target);
      if (!to || to === from || from.may.includes("*") || from.may.includes(to.name)) continue;
      out.push(`${file} -> ${target} (${from.name} may not import ${to.name})`);
    }
  }
  return out;
}

describe("the layers of ARCHITECTURE.md", () => {
  const found = violations();

  it("no file imports a layer it may not use", () => {
    expect(found.filter((v) => !KNOWN_EXCEPTIONS.includes(v))).toEqual([]);
  });

  it("every known exception still exists (remove it from the list once fixed)", () => {
    expect(KNOWN_EXCEPTIONS.filter((v) => !found.includes(v))).toEqual([]);
  });

  it("finds a violation when there is one (the parser sees type, re-export and dynamic imports)", () => {
    const text = [
      'import type { A } from "../x.js";',
      "import {",
      "  b,",
      "  c,",
      '} from "./y.js";',
      'export type * from "./w.js";',
      "// import { no } from \"./comment.js\";",
      "export const k = 1;",
      'import "./side.js";',
      'const c = await import("../../z.js");',
    ].join("\n");
    expect(specifiers(text)).toEqual(["../x.js", "./y.js", "./w.js", "./side.js", "../../z.js"]);
    expect(layerOf("runtime/ops/matmul.ts")!.may).not.toContain("compiler");
    expect(layerOf("runtime/rl/trainer.ts")!.may).not.toContain("compiler");
  });
});
