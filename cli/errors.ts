// How the CLI reports failures: one line per problem on stderr and an exit code.
// Stack traces appear only with ACPO_DEBUG=1 (for developers of acpo itself).

/** Errors whose message is already written for the user. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "UserError";
  }
}

/** Print `e` for a user and return the process exit code. */
export function reportError(e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`acpo: error: ${err.message}\n`);
  if (process.env.ACPO_DEBUG === "1" && err.stack) process.stderr.write(`${err.stack}\n`);
  return err instanceof UserError ? err.exitCode : 1;
}
