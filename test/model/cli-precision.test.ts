// `--precision f32|f16` on acpo sample, eval, sft and logprobs: the language's
// `model "DIR" { precision f16 }` as a flag. Bad values are refused by the parser; f16 scores
// within the stated tolerance of f32 (spec/language.md, "Half precision"); sft under f16
// trains the f32 masters and saves them as F32.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { registerDoctor } from "../../cli/commands/doctor.js";
import { registerEval } from "../../cli/commands/eval.js";
import { registerLogprobs } from "../../cli/commands/logprobs.js";
import { registerSample } from "../../cli/commands/sample.js";
import { registerSft } from "../../cli/commands/sft.js";
import { parsePrecisionOption, precisionChoice } from "../../cli/precision-option.js";
import { loadCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { tinyCharPolicyDir } from "../helpers/models.js";
import { type InProcessRun, runInProcess } from "../helpers/cli-in-process.js";

const COMMANDS = {
  sample: { register: registerSample, args: ["--model", "m", "--prompt", "2+2?"] },
  eval: { register: registerEval, args: ["--model", "m", "--task", "countdown"] },
  sft: { register: registerSft, args: ["--model", "m", "--task", "countdown", "-o", "out"] },
  logprobs: { register: registerLogprobs, args: ["--model", "m", "--ids", "1,2"] },
} as const;

/** Runs command `name` in this process (`args` replace its stand-in required arguments when given). */
function parse(name: keyof typeof COMMANDS, extra: string[], args: readonly string[] = COMMANDS[name].args): Promise<InProcessRun> {
  return runInProcess(COMMANDS[name].register, name, [...args, ...extra]);
}

describe("--precision", () => {
  it("takes f32 or f16 on sample, eval, sft and logprobs, and names the flag for refusals", async () => {
    expect([parsePrecisionOption("f32"), parsePrecisionOption("f16")]).toEqual(["f32", "f16"]);
    expect(precisionChoice({ precision: "f16" })).toEqual({ precision: "f16", setting: "--precision f16" });
    for (const name of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
      for (const bad of ["bf16", "F16", "half", ""]) {
        const r = await parse(name, ["--precision", bad]);
        expect(r.error, `${name} --precision ${bad}`).toBeInstanceOf(CommanderError);
        expect(r.stderr).toBe(`error: option '--precision <f32|f16>' argument '${bad}' is invalid. expected f32 or f16, got '${bad}'\n`);
      }
    }
  });

  it("logprobs under f16 are within 5e-2 of f32 and not identical to them", async () => {
    const dir = tinyCharPolicyDir(4, 3);
    const score = async (precision: string) => {
      const r = await parse("logprobs", ["--precision", precision], ["--model", dir, "--ids", "1,20,30,40,50,60,7"]);
      expect(r.error).toBeNull();
      return (JSON.parse(r.stdout[0]!) as { logprobs: number[] }).logprobs;
    };
    const [f32, f16] = [await score("f32"), await score("f16")];
    const d = f32.map((v, i) => Math.abs(v - f16[i]!));
    expect(Math.max(...d)).toBeGreaterThan(0);
    expect(Math.max(...d)).toBeLessThan(5e-2);
  });

  it("acpo doctor --precision f16 adds the f16 copies to the memory plan", async () => {
    const r = await runInProcess(registerDoctor, "doctor", ["--model", tinyCharPolicyDir(6, 1), "--precision", "f16"]);
    expect(r.error).toBeNull();
    const text = r.stdout.join("\n");
    expect(text).toMatch(/, precision f16; host memory/);
    expect(text).toMatch(/\n {2}weights \(f16 copies\) +[\d.]+ KiB +[\d.]+ KiB {2}\d+ linear weights as f16, read by the matmuls\n/);
    expect(text).not.toContain("decode weight copies");
  });

  it("sft under f16 updates the f32 masters and saves them as F32", async () => {
    const dir = tinyCharPolicyDir(5, 1);
    const out = join(mkdtempSync(join(tmpdir(), "acpo-sft-f16-")), "m");
    const s = await parse("sft", ["--steps", "1", "--batch", "2", "--eval-problems", "0", "--precision", "f16"], ["--task", "countdown", "--model", dir, "-o", out]);
    expect(s.error).toBeNull();
    expect(s.stdout.at(-1)).toBe(`saved ${out}`);
    const before = loadCheckpoint(dir).weights.get("model.layers.0.mlp.up_proj.weight")!.data;
    const after = loadCheckpoint(out).weights.get("model.layers.0.mlp.up_proj.weight")!.data;
    // Moved by one AdamW step (lr-sized), off the f16 grid: the masters, not the rounded copies, were saved.
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    expect(after.some((v) => Math.fround(v) === v && !isHalf(v))).toBe(true);
  });
});

/** Whether `v` is exactly an f16 value (within f16's normal range: 11 significant bits). */
function isHalf(v: number): boolean {
  if (v === 0) return true;
  const e = Math.floor(Math.log2(Math.abs(v)));
  return Number.isInteger(v * 2 ** (10 - e));
}
