// The VS Code side of acpo: starts `acpo lsp` (over stdio) for .acpo files. Highlighting
// comes from syntaxes/acpo.tmLanguage.json; everything else from the server.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

function activate() {
  const config = vscode.workspace.getConfiguration("acpo");
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const run = {
    command: config.get("server.command", "npx"),
    args: config.get("server.args", ["--no", "acpo", "lsp"]),
    // The client adds --stdio, which `acpo lsp` accepts.
    transport: TransportKind.stdio,
    options: folder ? { cwd: folder } : {},
  };
  client = new LanguageClient("acpo", "acpo language server", { run, debug: run }, { documentSelector: [{ scheme: "file", language: "acpo" }, { scheme: "untitled", language: "acpo" }] });
  return client.start();
}

function deactivate() {
  return client?.stop();
}

module.exports = { activate, deactivate };
