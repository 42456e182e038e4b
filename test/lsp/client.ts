// A minimal LSP client for tests: spawns `node cli/acpo.js lsp` as an editor would and talks
// JSON-RPC to it over the child's stdin/stdout. Documents are sent inline (didOpen/didChange);
// the server reads only `extends` parents from disk.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from "vscode-jsonrpc/node";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}
export interface LspDiagnostic {
  range: Range;
  code: string;
  message: string;
  severity: number;
  relatedInformation?: { location: { uri: string; range: Range }; message: string }[];
}
export interface DocumentSymbol {
  name: string;
  kind: number;
  detail?: string;
  range: Range;
  selectionRange: Range;
  children?: DocumentSymbol[];
}

export class LspClient {
  private readonly versions = new Map<string, number>();
  /** Waiters for the next diagnostics of a URI at a version. */
  private readonly waiting = new Map<string, (d: LspDiagnostic[]) => void>();
  stderr = "";

  private constructor(readonly child: ChildProcess, readonly conn: MessageConnection) {
    conn.onNotification("textDocument/publishDiagnostics", (p: { uri: string; version?: number; diagnostics: LspDiagnostic[] }) => {
      const key = `${p.uri}@${p.version}`;
      this.waiting.get(key)?.(p.diagnostics);
      this.waiting.delete(key);
    });
    child.stderr!.on("data", (b: Buffer) => (this.stderr += b.toString()));
  }

  static async start(): Promise<LspClient> {
    const child = spawn(process.execPath, ["cli/acpo.js", "lsp"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const client = new LspClient(child, conn);
    conn.listen();
    await conn.sendRequest("initialize", { processId: process.pid, rootUri: null, capabilities: {} });
    conn.sendNotification("initialized", {});
    return client;
  }

  private nextDiagnostics(uri: string, version: number): Promise<LspDiagnostic[]> {
    return new Promise((res) => this.waiting.set(`${uri}@${version}`, res));
  }

  /** Open a document with inline text; resolves with the diagnostics published for it. */
  open(path: string, text: string): Promise<LspDiagnostic[]> {
    const uri = uriOf(path);
    this.versions.set(uri, 1);
    const d = this.nextDiagnostics(uri, 1);
    this.conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "acpo", version: 1, text } });
    return d;
  }

  /** Replace the whole text, as an editor's full-sync change; resolves with the new diagnostics. */
  change(path: string, text: string): Promise<LspDiagnostic[]> {
    const uri = uriOf(path);
    const version = (this.versions.get(uri) ?? 0) + 1;
    this.versions.set(uri, version);
    const d = this.nextDiagnostics(uri, version);
    this.conn.sendNotification("textDocument/didChange", { textDocument: { uri, version }, contentChanges: [{ text }] });
    return d;
  }

  hover(path: string, pos: Position): Promise<{ contents: { kind: string; value: string }; range?: Range } | null> {
    return this.conn.sendRequest("textDocument/hover", { textDocument: { uri: uriOf(path) }, position: pos });
  }

  async completion(path: string, pos: Position): Promise<{ label: string; kind: number; detail?: string }[]> {
    const r = await this.conn.sendRequest<{ label: string; kind: number; detail?: string }[] | { items: { label: string; kind: number }[] }>("textDocument/completion", { textDocument: { uri: uriOf(path) }, position: pos });
    return Array.isArray(r) ? r : r.items;
  }

  definition(path: string, pos: Position): Promise<{ uri: string; range: Range } | null> {
    return this.conn.sendRequest("textDocument/definition", { textDocument: { uri: uriOf(path) }, position: pos });
  }

  symbols(path: string): Promise<DocumentSymbol[]> {
    return this.conn.sendRequest("textDocument/documentSymbol", { textDocument: { uri: uriOf(path) } });
  }

  /** shutdown + exit, as an editor closes; resolves with the server's exit code. */
  async stop(): Promise<number | null> {
    const exited = new Promise<number | null>((res) => this.child.once("exit", (code) => res(code)));
    await this.conn.sendRequest("shutdown");
    this.conn.sendNotification("exit");
    const code = await exited;
    this.conn.dispose();
    return code;
  }
}

export function uriOf(path: string): string {
  return pathToFileURL(path).href;
}

/** The position of the `n`-th (0-based) occurrence of `needle` in `text`, plus `delta` characters. */
export function positionOf(text: string, needle: string, delta = 0, n = 0): Position {
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`"${needle}" occurs fewer than ${n + 1} times`);
  }
  const before = text.slice(0, at + delta);
  const line = before.split("\n").length - 1;
  return { line, character: before.length - (before.lastIndexOf("\n") + 1) };
}

/** The range of the `n`-th occurrence of `needle`. */
export function rangeOf(text: string, needle: string, n = 0): Range {
  return { start: positionOf(text, needle, 0, n), end: positionOf(text, needle, needle.length, n) };
}
