// The compiler front end's entry point: a file path (and `--set` overrides) in, a
// resolved, checked pipeline or positioned diagnostics out. Never throws for bad input.
import { checkPipeline } from "./checker/index.js";
import { Diagnostics, formatDiagnostic, type Diagnostic } from "./diagnostics.js";
import type { Pipeline } from "./pipeline.js";
import { applySets, loadFile } from "./resolve.js";
import type { Source } from "./source.js";

// The front end's API for the layers above the compiler (runtime/loop/rl, runtime/loop/eval, ...):
// the resolved pipeline's types, loading and printing. Compiled stages come from
// compiler/plan/artifact.ts; nothing else of compiler/ is imported from above (ARCHITECTURE.md).
export type * from "./pipeline.js";
export type { Expr } from "./ast.js";
export type { Diagnostic } from "./diagnostics.js";
export { formatDiagnostic } from "./diagnostics.js";
export { printExpr, printPipeline } from "./print.js";
export { pipelineJson, type PipelineJson } from "./pipeline-json.js";

export interface LoadOptions {
  /** `name=value` strings, as given to `--set`. */
  set?: readonly string[];
  /** Source text to use instead of reading `path` (tests, editors); `extends` still reads from disk relative to `path`. */
  text?: string;
}

export interface LoadResult {
  /** Present exactly when there are no diagnostics. */
  pipeline?: Pipeline;
  /** Errors. */
  diagnostics: Diagnostic[];
  /** Warnings (the pipeline still loads): things that run but almost surely not as meant, in source order. */
  warnings: Diagnostic[];
  /** Every source read (files and `--set` arguments), for formatting diagnostics. */
  sources: Map<string, Source>;
}

export function loadPipeline(path: string, opts: LoadOptions = {}): LoadResult {
  const diags = new Diagnostics();
  const sources = new Map<string, Source>();
  try {
    const loaded = loadFile(path, diags, sources, [], opts.text);
    if (!loaded) return { diagnostics: diags.list, warnings: [], sources };
    // After a syntax error the AST has holes; checking it would mostly report the holes.
    if (diags.count > 0) return { diagnostics: sorted(diags.list, sources), warnings: [], sources };
    const ast = applySets(loaded.ast, opts.set ?? [], diags, sources);
    const pipeline = checkPipeline(ast, loaded.chain, diags);
    const warnings = sorted(diags.warnings, sources);
    if (diags.count > 0 || !pipeline) return { diagnostics: sorted(diags.list, sources), warnings, sources };
    return { pipeline, diagnostics: [], warnings, sources };
  } catch (e) {
    // A bug in the compiler, not in the user's file: still no stack trace for the user.
    diags.add({ code: "E0102", message: `internal compiler error: ${e instanceof Error ? e.message : String(e)}`, file: path, hint: "please report this with the file that triggered it (ACPO_DEBUG=1 shows the stack)" });
    if (process.env.ACPO_DEBUG === "1" && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return { diagnostics: diags.list, warnings: [], sources };
  }
}

/** Diagnostics in source order: by file (in the order files were read), then position. */
function sorted(list: Diagnostic[], sources: Map<string, Source>): Diagnostic[] {
  const fileRank = new Map([...sources.keys()].map((k, i) => [k, i]));
  const key = (d: Diagnostic): [number, number] => (d.span ? [fileRank.get(d.span.file) ?? -1, d.span.start] : [-1, -1]);
  return [...list].sort((a, b) => {
    const [fa, sa] = key(a);
    const [fb, sb] = key(b);
    return fa - fb || sa - sb;
  });
}

/** All errors of a load, formatted for a terminal. */
export function formatAll(r: LoadResult): string {
  return r.diagnostics.map((d) => formatDiagnostic(d, r.sources)).join("\n\n");
}

/** All warnings of a load, formatted for a terminal ("" when none). */
export function formatWarnings(r: LoadResult): string {
  return r.warnings.map((d) => formatDiagnostic(d, r.sources)).join("\n\n");
}
