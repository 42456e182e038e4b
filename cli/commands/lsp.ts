// `acpo lsp`: the language server for editors, speaking LSP on stdin/stdout. Editors start
// it themselves (editors/vscode/ does); stdout then carries only protocol messages.
import type { Command } from "commander";

export function registerLsp(program: Command): void {
  program
    .command("lsp")
    .description("language server for editors (LSP over stdin/stdout): diagnostics, hover, completion, definitions, outline")
    // Clients that start servers over stdio pass --stdio; stdio is the only transport.
    .option("--stdio", "talk LSP over stdin/stdout (the default and only transport)")
    .action(async () => {
      // Loaded here so that other commands do not pay for the protocol library.
      const { startServer } = await import("../../compiler/lsp/server.js");
      startServer(process.stdin, process.stdout);
    });
}
