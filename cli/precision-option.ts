// `--precision f32|f16` for the commands that load a model (sample, eval, sft, logprobs): the
// language's `model "DIR" { precision f16 }` (spec/language.md, "model"), with the same
// meaning: f16 copies of the linear weights for the matmuls, f32 masters, f32 accumulation
// (runtime/engine/model/weights.ts). Default f32; f16 on an adapter without shader-f16 is refused.
import { type Command, InvalidArgumentError } from "commander";
import type { Precision, PrecisionChoice } from "../runtime/engine/model/weights.js";

export interface PrecisionFlags {
  precision: Precision;
}

/** "f32" or "f16", as the language writes it. */
export function parsePrecisionOption(value: string): Precision {
  if (value === "f32" || value === "f16") return value;
  throw new InvalidArgumentError(`expected f32 or f16, got '${value}'`);
}

/** Adds --precision to a command. */
export function withPrecisionOption(cmd: Command): Command {
  return cmd.option("--precision <f32|f16>", "store the linear weights as f16 for the matmuls (f32 masters and accumulation; needs shader-f16)", parsePrecisionOption, "f32" as Precision);
}

/** The flag as the weights' precision choice, naming the flag in refusals. */
export const precisionChoice = (o: PrecisionFlags): PrecisionChoice => ({ precision: o.precision, setting: `--precision ${o.precision}` });
