// One analysis of an editor buffer: the diagnostics `acpo check` would print for it, and the
// merged, checked AST that hover, completion and go-to-definition read. The diagnostics come
// from the public `loadPipeline` so that the editor and the command line never disagree.
import type * as A from "../ast.js";
import { checkPipeline } from "../checker/index.js";
import { Diagnostics, type Diagnostic } from "../diagnostics.js";
import { loadPipeline } from "../index.js";
import { loadFile } from "../resolve.js";

export interface Analysis {
  /** Absolute path of the buffer (its `extends` paths resolve against it). */
  path: string;
  text: string;
  diagnostics: Diagnostic[];
  /**
   * This file's items merged over its parents', with levels, types and name references
   * filled in as far as the checker got; undefined when the text could not be parsed into
   * an AST at all. Items from parents keep spans in their own files.
   */
  ast?: A.PipelineAst;
}

export function analyze(path: string, text: string): Analysis {
  const { diagnostics } = loadPipeline(path, { text });
  return { path, text, diagnostics, ast: checkedAst(path, text) };
}

/**
 * Parse, merge and check once more, keeping the AST that `loadPipeline` does not return.
 * The checker annotates nodes as it goes, so a file with errors still gets levels and types
 * everywhere its errors do not reach; its diagnostics here are discarded (the first pass has them).
 */
function checkedAst(path: string, text: string): A.PipelineAst | undefined {
  const diags = new Diagnostics();
  let loaded: ReturnType<typeof loadFile>;
  try {
    loaded = loadFile(path, diags, new Map(), [], text);
  } catch {
    return undefined;
  }
  if (!loaded) return undefined;
  try {
    checkPipeline(loaded.ast, loaded.chain, diags);
  } catch {
    // After a syntax error the AST has holes the checker may not expect; what it annotated stands.
  }
  return loaded.ast;
}
