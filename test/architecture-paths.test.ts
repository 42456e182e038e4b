// ARCHITECTURE.md names files so that a reader can open them: every path it names in
// backticks must exist. A path from the repository root (compiler/..., runtime/..., cli/...)
// must be that file or folder; a shorter one (`codegen/runner.ts`, `decoder.ts`, named in the
// sentence about its folder) must end some file's path; a pattern (`sweep-*.ts`) must match
// one. Placeholders (`NAME.ts`), suffixes (`.ref.ts`) and the paths listed in OUTSIDE are not
// paths in the repository.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(".");
const ROOTS = ["compiler/", "runtime/", "cli/", "export/", "test/", "bench/", "scripts/", "spec/", "examples/", "experiments/", "models/"];
const SKIP = new Set(["node_modules", ".git", "dist"]);
/** Paths ARCHITECTURE.md names that are not in the repository, and what they are. */
const OUTSIDE: Record<string, string> = { "kernels/*.wgsl": "a plan folder's kernels, written by acpo compile -o DIR" };

/** Every file and folder under the repository root, relative, folders with a trailing slash. */
function repoPaths(dir = ""): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = dir ? `${dir}/${name}` : name;
    return statSync(join(ROOT, path)).isDirectory() ? [`${path}/`, ...repoPaths(path)] : [path];
  });
}

/** The backticked tokens of a markdown text that look like file or folder paths. */
export function namedPaths(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/`([^`\s]+)`/g)) {
    const t = m[1]!;
    if (/^[\w.*-]+(\/[\w.*-]+)*\.(ts|md|json|wgsl|py)$/.test(t) || (t.includes("/") && t.endsWith("/") && /^[\w./-]+$/.test(t))) out.add(t);
  }
  return [...out].filter((p) => !/\bNAME\b/.test(p) && !p.startsWith("."));
}

/** Whether `name` exists: exactly from the root, else as the end of some path; `*` matches within one path segment. */
export function exists(name: string, paths: readonly string[]): boolean {
  const pattern = new RegExp(`${ROOTS.some((r) => name.startsWith(r)) ? "^" : "(^|/)"}${name.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")}$`);
  return paths.some((p) => pattern.test(p));
}

describe("ARCHITECTURE.md names files that exist", () => {
  it("every path it names is in the repository", () => {
    const paths = repoPaths();
    const named = namedPaths(readFileSync(join(ROOT, "ARCHITECTURE.md"), "utf8"));
    expect(named.length).toBeGreaterThan(50);
    expect(named.filter((p) => !exists(p, paths) && !(p in OUTSIDE))).toEqual([]);
    expect(Object.keys(OUTSIDE).filter((p) => !named.includes(p)), "OUTSIDE lists a path the file no longer names").toEqual([]);
  });

  it("reads paths, folders and patterns from backticks, and tells a missing one", () => {
    const text = "See `runtime/engine/gpu.ts`, `codegen/runner.ts`, `runtime/engine/ops/`, `sweep-*.ts`, `NAME.ts`, `.ref.ts`, `acpo train` and `x.y`.";
    expect(namedPaths(text)).toEqual(["runtime/engine/gpu.ts", "codegen/runner.ts", "runtime/engine/ops/", "sweep-*.ts"]);
    const paths = ["runtime/", "runtime/engine/", "runtime/engine/gpu.ts", "runtime/engine/ops/", "compiler/codegen/runner.ts", "runtime/loop/report/sweep-table.ts"];
    expect(namedPaths(text).map((p) => exists(p, paths))).toEqual([true, true, true, true]);
    // A path from the root must be exact: runtime/gpu.ts moved to runtime/engine/gpu.ts.
    expect(exists("runtime/gpu.ts", paths)).toBe(false);
    expect(exists("runner.ts", ["compiler/codegen/xrunner.ts"])).toBe(false);
    expect(exists("sweep-*.ts", ["runtime/loop/report/sweep/table.ts"])).toBe(false);
  });
});
