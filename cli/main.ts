// The `acpo` command line. Each command lives in its own file under cli/commands/ and
// registers itself on the program; errors reach the user as one clear line, never a stack.
import { Command, CommanderError } from "commander";
import { registerDoctor } from "./commands/doctor.js";
import { registerCheck } from "./commands/check.js";
import { registerInitModel } from "./commands/init-model.js";
import { registerLogprobs } from "./commands/logprobs.js";
import { registerCompile } from "./commands/compile.js";
import { registerReplay } from "./commands/replay.js";
import { registerSample } from "./commands/sample.js";
import { registerSft } from "./commands/sft.js";
import { registerEval } from "./commands/eval.js";
import { registerTrain } from "./commands/train.js";
import { registerReport } from "./commands/report.js";
import { registerCompare } from "./commands/compare.js";
import { registerSweep } from "./commands/sweep.js";
import { registerAttributionCheck } from "./commands/attribution-check.js";
import { registerExport } from "./commands/export.js";
import { registerLsp } from "./commands/lsp.js";
import { reportError } from "./errors.js";

const program = new Command();
program
  .name("acpo")
  .description("Attribution-based credit assignment for RL with verifiable rewards, on WebGPU")
  .version("0.1.0")
  .showSuggestionAfterError(true)
  .exitOverride();

registerDoctor(program);
registerCheck(program);
registerInitModel(program);
registerLogprobs(program);
registerCompile(program);
registerReplay(program);
registerSample(program);
registerSft(program);
registerEval(program);
registerTrain(program);
registerReport(program);
registerCompare(program);
registerSweep(program);
registerAttributionCheck(program);
registerExport(program);
registerLsp(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Commander already printed its message (unknown option, missing argument, --help).
    process.exitCode = e.exitCode;
  } else {
    process.exitCode = reportError(e);
  }
}
