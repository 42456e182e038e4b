// The layering of ARCHITECTURE.md, enforced: every import statement of every .ts file under
// compiler/, runtime/, export/ and cli/ (static, type-only, re-exports and dynamic imports)
// must go to its own layer or to one the table below lets it use. Layers above the compiler
// reach it only through its two API modules.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(".");

/** A layer: the files it holds (path prefixes; the longest matching prefix decides). */
interface Layer {
  name: string;
  prefixes: string[];
  /** Layers this one may import (besides itself); "*" for any. */
  may: string[];
}

// Lowest first, as in ARCHITECTURE.md's table (checked below). "compiler API" is the
// compiler's surface for the layers above it: the front end's entry (loading, printing, the
// resolved pipeline's types) and the compiled artifact.
const BELOW = ["runtime base", "ops", "tasks"];
const LAYERS: Layer[] = [
  { name: "runtime base", prefixes: ["runtime/engine/errors.ts", "runtime/engine/fs-errors.ts", "runtime/engine/gpu.ts", "runtime/engine/idle-wait.ts", "runtime/engine/kernel.ts", "runtime/engine/line-reader.ts", "runtime/engine/rng.ts", "runtime/engine/tensor.ts", "runtime/engine/write-errors.ts"], may: [] },
  { name: "ops", prefixes: ["runtime/engine/ops/"], may: ["runtime base"] },
  { name: "model", prefixes: ["runtime/engine/model/"], may: ["runtime base", "ops"] },
  { name: "tasks", prefixes: ["runtime/engine/tasks/"], may: ["runtime base"] },
  { name: "compiler", prefixes: ["compiler/"], may: ["compiler API", ...BELOW] },
  { name: "compiler API", prefixes: ["compiler/index.ts", "compiler/plan/artifact.ts"], may: ["compiler", ...BELOW] },
  { name: "export", prefixes: ["export/"], may: ["compiler API", "compiler", ...BELOW] },
  { name: "eval", prefixes: ["runtime/loop/eval/"], may: ["runtime base", "ops", "model", "tasks"] },
  { name: "sft", prefixes: ["runtime/loop/sft/"], may: ["runtime base", "ops", "model", "tasks", "eval"] },
  { name: "rl", prefixes: ["runtime/loop/rl/", "runtime/loop/run/"], may: ["runtime base", "ops", "model", "tasks", "eval", "compiler API"] },
  { name: "report", prefixes: ["runtime/loop/report/"], may: ["runtime base", "ops", "model", "tasks", "eval", "rl", "compiler API"] },
  { name: "cli", prefixes: ["cli/"], may: ["*"] },
];

/**
 * Imports that break the table today and are not fixed yet (issue 12). The test fails on
 * any import not listed here, and on a listed one that is gone (so the list only shrinks).
 */
const KNOWN_EXCEPTIONS: string[] = [];

function layerOf(file: string): Layer | null {
  let best: { layer: Layer; length: number } | null = null;
  for (const layer of LAYERS) {
    for (const p of layer.prefixes) {
      const hit = p.endsWith("/") ? file.startsWith(p) : file === p;
      if (hit && (!best || p.length > best.length)) best = { layer, length: p.length };
    }
  }
  return best?.layer ?? null;
}

/** ARCHITECTURE.md's layer table: each row's layer and what it may import. */
function documentedLayers(): { name: string; may: string[] }[] {
  const text = readFileSync(join(ROOT, "ARCHITECTURE.md"), "utf8");
  const table = text.slice(text.indexOf("| layer | folders | may import |")).split("\n\n")[0]!;
  return table.split("\n").slice(2).map((row) => {
    const cells = row.split(" | ").map((c) => c.replace(/^\|\s*|\s*\|$/g, "").trim());
    const may = cells[cells.length - 1]!;
    return { name: cells[0]!, may: may === "—" ? [] : may === "everything" ? ["*"] : may.split(", ") };
  });
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

  it("enforces the table ARCHITECTURE.md shows", () => {
    expect(documentedLayers()).toEqual(LAYERS.map(({ name, may }) => ({ name, may })));
  });

  it("every known exception still exists (remove it from the list once fixed)", () => {
    expect(KNOWN_EXCEPTIONS.filter((v) => !found.includes(v))).toEqual([]);
  });

  it("runtime/ is two folders: engine/ below the compiler, loop/ above it; each subfolder is a layer", () => {
    const dirs = (at: string) => readdirSync(join(ROOT, at)).filter((name) => statSync(join(ROOT, at, name)).isDirectory()).sort();
    expect(dirs("runtime")).toEqual(["engine", "loop"]);
    const layersIn = (at: string) => Object.fromEntries(dirs(at).map((f) => [f, layerOf(`${at}/${f}/x.ts`)?.name ?? null]));
    expect(layersIn("runtime/engine")).toEqual({ model: "model", ops: "ops", tasks: "tasks" });
    expect(layersIn("runtime/loop")).toEqual({ eval: "eval", report: "report", rl: "rl", run: "rl", sft: "sft" });
    // Every file directly in engine/ is runtime base.
    const files = readdirSync(join(ROOT, "runtime/engine")).filter((n) => n.endsWith(".ts"));
    expect(files.filter((f) => layerOf(`runtime/engine/${f}`)?.name !== "runtime base")).toEqual([]);
    for (const layer of LAYERS.filter((l) => BELOW.includes(l.name) || l.name === "model")) {
      expect(layer.prefixes.every((p) => p.startsWith("runtime/engine/"))).toBe(true);
    }
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
    expect(layerOf("runtime/engine/ops/matmul.ts")!.may).not.toContain("compiler");
    expect(layerOf("runtime/loop/rl/trainer.ts")!.may).not.toContain("compiler");
    expect(layerOf("compiler/plan/artifact.ts")!.name).toBe("compiler API");
    expect(layerOf("compiler/plan/plan.ts")!.name).toBe("compiler");
  });
});
