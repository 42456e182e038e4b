// The matmul module family imports without a cycle (issue 12): the facade runtime/engine/ops/matmul.ts
// re-exports the derived ops (linear, backward), so they must take `matmul` from the leaf
// module matmul/product.ts, never from the facade. Value imports count (static, re-export,
// dynamic): a cycle among them makes evaluation order depend on which module a caller loads
// first. Type-only imports (`import type`, `export type`) are erased by the compiler and cannot.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(".");
const OPS = join(ROOT, "runtime/engine/ops");

/**
 * The files of the family: runtime/engine/ops/matmul*.ts (the facade, the tuner, the f16 kernels, the
 * references) and the matmul/ folder, so that a hook from linear.ts into a sibling module
 * cannot close a cycle unseen.
 */
function familyFiles(): string[] {
  const ts = (dir: string, f: string): boolean => f.endsWith(".ts") && (dir !== OPS || f.startsWith("matmul"));
  return [OPS, join(OPS, "matmul")].flatMap((dir) => readdirSync(dir).filter((f) => ts(dir, f)).map((f) => join(dir, f)));
}

/** Relative value imports of one file, resolved to .ts paths (".js" specifiers name the .ts source). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const statements = [...text.matchAll(/^(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"/gms)].filter((m) => !/^(?:import|export)\s+type\b/.test(m[0])).map((m) => m[1]!);
  const dynamic = [...text.matchAll(/import\s*\(\s*"(\.[^"]+)"\s*\)/g)].map((m) => m[1]!);
  const specs = [...statements, ...dynamic];
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

/** Every cycle reachable in the graph, each as the list of files (relative to the root) that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    path.push(f);
    for (const g of graph.get(f) ?? []) {
      if (!graph.has(g)) continue; // outside the family: cannot close a cycle through it
      if (state.get(g) === "open") found.push([...path.slice(path.indexOf(g)), g].map((p) => relative(ROOT, p)));
      else if (!state.has(g)) visit(g);
    }
    path.pop();
    state.set(f, "done");
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

describe("matmul module imports", () => {
  it("form no cycle", () => {
    const graph = new Map(familyFiles().map((f) => [f, importsOf(f)]));
    expect(cycles(graph)).toEqual([]);
  });

  it("count value imports and re-exports, not type-only ones", () => {
    const backward = importsOf(join(OPS, "matmul/backward.ts")).map((p) => relative(ROOT, p));
    expect(backward).toContain("runtime/engine/ops/matmul/product.ts"); // import { type MatmulArgs, matmul }
    expect(backward).not.toContain("runtime/engine/gpu.ts"); // import type { Gpu }
    expect(importsOf(join(OPS, "matmul.ts")).map((p) => relative(ROOT, p))).toContain("runtime/engine/ops/matmul/linear.ts"); // export { ... } from
  });

  it("the cycle finder reports a cycle it is given (so an empty answer means something)", () => {
    const graph = new Map([[join(ROOT, "a.ts"), [join(ROOT, "b.ts")]], [join(ROOT, "b.ts"), [join(ROOT, "a.ts")]]]);
    expect(cycles(graph)).toEqual([["a.ts", "b.ts", "a.ts"]]);
  });
});
