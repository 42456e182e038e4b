// The one way a CLI command loads a pipeline file: warnings (e.g. a stage whose `until`
// can never hold) go to stderr and the command goes on; errors go to stderr and end the
// command with a UserError that says what was not done.
import { formatAll, formatWarnings, loadPipeline, type Pipeline } from "../compiler/index.js";
import { UserError } from "./errors.js";

/** The checked pipeline of `file`, or a UserError ending in `consequence` ("no plan written"). */
export function loadPipelineOrFail(file: string, set: readonly string[], consequence: string): Pipeline {
  const r = loadPipeline(file, { set });
  if (r.warnings.length > 0) process.stderr.write(`${formatWarnings(r)}\n\n`);
  if (!r.pipeline) {
    process.stderr.write(`${formatAll(r)}\n\n`);
    const n = r.diagnostics.length;
    throw new UserError(`${file}: ${n} error${n === 1 ? "" : "s"}${consequence ? `; ${consequence}` : ""}`);
  }
  return r.pipeline;
}
