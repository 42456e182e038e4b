// Runs one acpo command in this process, with only it registered on a fresh commander
// program: what commander wrote to stderr, what the command printed (console.log lines)
// and the error it ended with come back. Faster than a child process, and the error is the
// thrown object, so tests can check its type as well as its message.
import { Command } from "commander";
import { vi } from "vitest";

export interface InProcessRun {
  error: unknown;
  stderr: string;
  stdout: string[];
}

export async function runInProcess(register: (program: Command) => void, name: string, args: readonly string[]): Promise<InProcessRun> {
  let stderr = "";
  const stdout: string[] = [];
  const program = new Command().exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: () => undefined });
  register(program);
  const log = vi.spyOn(console, "log").mockImplementation((...xs: unknown[]) => void stdout.push(xs.join(" ")));
  try {
    await program.parseAsync(["node", "acpo", name, ...args]);
    return { error: null, stderr, stdout };
  } catch (error) {
    return { error, stderr, stdout };
  } finally {
    log.mockRestore();
  }
}
