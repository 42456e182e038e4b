// The language server: LSP over a pair of streams (stdio for `acpo lsp`). Documents are
// analysed on open and on every change; hover, completion, definition and the outline read
// the latest analysis. The logic lives in the protocol-free modules beside this one; this
// file only converts positions and kinds.
import { basename, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  CompletionItemKind,
  createConnection,
  DiagnosticSeverity,
  ProposedFeatures,
  SymbolKind,
  TextDocuments,
  TextDocumentSyncKind,
  type CompletionItem,
  type Diagnostic as LspDiagnostic,
  type DocumentSymbol,
  type Location,
  type Range,
} from "vscode-languageserver/node";
import { TextDocument } from "vscode-languageserver-textdocument";
import type { Diagnostic } from "../diagnostics.js";
import type { Span } from "../source.js";
import { analyze, type Analysis } from "./analysis.js";
import { complete, type CandidateKind } from "./completion.js";
import { hoverText } from "./hover.js";
import { locate, type Hit } from "./locate.js";
import { definitionOf } from "./scope.js";
import { outline, type OutlineSymbol, type SymbolKind as OutlineKind } from "./symbols.js";

/** The file path a document URI stands for; unsaved buffers get a path in the working directory. */
export function uriToPath(uri: string): string {
  if (uri.startsWith("file:")) return fileURLToPath(uri);
  return resolve(uri.replace(/[^A-Za-z0-9_.-]/g, "_"));
}

export function spanToRange(s: Span): Range {
  return { start: { line: s.line - 1, character: s.col - 1 }, end: { line: s.endLine - 1, character: s.endCol - 1 } };
}

const START: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

/**
 * The checker's diagnostics for one document. Problems in a parent reached through `extends`
 * are shown on the `extends` path, named by file:line:col, with the parent's own position as
 * related information (the parent file may not be open).
 */
export function toLspDiagnostics(a: Analysis): LspDiagnostic[] {
  const own = resolve(a.path);
  const extendsRange = a.ast?.extends ? spanToRange(a.ast.extends.span) : START;
  return a.diagnostics.map((d) => {
    const message = d.hint ? `${d.message}\n= ${d.hint}` : d.message;
    const base = { severity: DiagnosticSeverity.Error, code: d.code, source: "acpo" };
    const file = d.span?.file ?? d.file;
    if (file === undefined || resolve(file) === own) return { ...base, range: d.span ? spanToRange(d.span) : START, message };
    return { ...base, range: extendsRange, message: `in ${parentPlace(d)}: ${message}`, relatedInformation: d.span ? [{ location: { uri: pathToFileURL(resolve(d.span.file)).href, range: spanToRange(d.span) }, message: d.message }] : undefined };
  });
}

function parentPlace(d: Diagnostic): string {
  return d.span ? `${basename(d.span.file)}:${d.span.line}:${d.span.col}` : basename(d.file ?? "");
}

const COMPLETION_KINDS: Record<CandidateKind, CompletionItemKind> = {
  setting: CompletionItemKind.Property,
  keyword: CompletionItemKind.Keyword,
  kind: CompletionItemKind.EnumMember,
  quantity: CompletionItemKind.Variable,
  function: CompletionItemKind.Function,
  param: CompletionItemKind.Constant,
  let: CompletionItemKind.Variable,
  fn: CompletionItemKind.Function,
  level: CompletionItemKind.EnumMember,
  metric: CompletionItemKind.Value,
  stage: CompletionItemKind.Module,
};

const SYMBOL_KINDS: Record<OutlineKind, SymbolKind> = {
  pipeline: SymbolKind.Module,
  stage: SymbolKind.Event,
  param: SymbolKind.Constant,
  let: SymbolKind.Variable,
  fn: SymbolKind.Function,
  advantage: SymbolKind.Field,
  setting: SymbolKind.Property,
};

function toDocumentSymbol(s: OutlineSymbol): DocumentSymbol {
  return { name: s.name, detail: s.detail, kind: SYMBOL_KINDS[s.kind], range: spanToRange(s.span), selectionRange: spanToRange(s.selection), children: s.children.map(toDocumentSymbol) };
}

function hitSpan(h: Hit): Span | undefined {
  switch (h.kind) {
    case "expr":
      return h.expr.span;
    case "callee":
      return h.call.calleeSpan;
    case "decl":
      return h.decl.nameSpan;
    case "fnParam":
      return h.fn.params[h.index]!.span;
    case "settingKey":
      return h.setting.keySpan;
    default:
      return h.span;
  }
}

export function startServer(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): void {
  const connection = createConnection(ProposedFeatures.all, input, output);
  const documents = new TextDocuments(TextDocument);
  const analyses = new Map<string, { version: number; analysis: Analysis }>();

  const analysisOf = (doc: TextDocument): Analysis => {
    const hit = analyses.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.analysis;
    const analysis = analyze(uriToPath(doc.uri), doc.getText());
    analyses.set(doc.uri, { version: doc.version, analysis });
    return analysis;
  };
  const publish = (doc: TextDocument): void => {
    void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics: toLspDiagnostics(analysisOf(doc)) });
  };
  /** What the request's position points at in a document, with its analysis. */
  const at = (uri: string, pos: { line: number; character: number }) => {
    const doc = documents.get(uri);
    if (!doc) return undefined;
    const a = analysisOf(doc);
    const offset = doc.offsetAt(pos);
    return { doc, a, offset, hit: a.ast ? locate(a.ast, a.path, offset) : undefined };
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: ["[", "(", ","] },
      definitionProvider: true,
      documentSymbolProvider: true,
    },
    serverInfo: { name: "acpo", version: "0.1.0" },
  }));

  documents.onDidChangeContent((e) => publish(e.document));
  // A saved file may be another open file's parent: its children's diagnostics change too.
  documents.onDidSave(() => {
    analyses.clear();
    for (const doc of documents.all()) publish(doc);
  });
  documents.onDidClose((e) => {
    analyses.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover((p) => {
    const c = at(p.textDocument.uri, p.position);
    if (!c?.hit || !c.a.ast) return null;
    const value = hoverText(c.a.ast, c.hit);
    const span = hitSpan(c.hit);
    return value ? { contents: { kind: "markdown", value }, range: span && spanToRange(span) } : null;
  });

  connection.onCompletion((p): CompletionItem[] => {
    const c = at(p.textDocument.uri, p.position);
    if (!c) return [];
    return complete(c.doc.getText(), c.offset, c.a.ast).map((x) => ({
      label: x.label,
      kind: COMPLETION_KINDS[x.kind],
      detail: x.detail,
      documentation: x.documentation,
    }));
  });

  connection.onDefinition((p): Location | null => {
    const c = at(p.textDocument.uri, p.position);
    if (!c?.hit || !c.a.ast) return null;
    const t = definitionOf(c.a.ast, c.a.path, c.hit);
    if (!t) return null;
    if ("file" in t) return { uri: pathToFileURL(t.file).href, range: START };
    return { uri: pathToFileURL(resolve(t.span.file)).href, range: spanToRange(t.span) };
  });

  connection.onDocumentSymbol((p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return [];
    const a = analysisOf(doc);
    return a.ast ? outline(a.ast, a.path).map(toDocumentSymbol) : [];
  });

  documents.listen(connection);
  connection.listen();
}
