// `--chat on|off` and `--system TEXT` on acpo sample, eval and sft: the language's task
// settings `chat` and `system` (same meaning, same refusals), as a user runs them.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { registerEval } from "../../cli/commands/eval.js";
import { registerSample } from "../../cli/commands/sample.js";
import { registerSft } from "../../cli/commands/sft.js";
import { UserError } from "../../cli/errors.js";
import { applyPromptFormat, parseChatOption, promptFormatOf } from "../../cli/prompt-options.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles, TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { testGpu } from "../helpers/gpu.js";
import { type InProcessRun, runInProcess } from "../helpers/cli-in-process.js";

const acpo = (...args: string[]) => spawnSync(process.execPath, ["cli/acpo.js", ...args], { encoding: "utf8", timeout: 180_000 });

const TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";

/** A tiny character-level model folder, with a chat template when `chat`. */
function modelDir(chat: boolean): { dir: string; tokenizer: TextTokenizer } {
  const dir = mkdtempSync(join(tmpdir(), chat ? "acpo-chat-" : "acpo-base-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const tokenizerConfig = chat ? { ...files.tokenizerConfig, chat_template: TEMPLATE } : files.tokenizerConfig;
  const config = presetConfig("tiny", 108, 1, [2]);
  saveCheckpoint(dir, { config, weights: initWeights(config, 5), tokenizer: files.tokenizer, tokenizerConfig, generationConfig: {} });
  return { dir, tokenizer: new TextTokenizer(files.tokenizer, tokenizerConfig, `${dir}/tokenizer.json`) };
}

/** Required arguments of each command, so that only the prompt flags are under test. */
const COMMANDS = {
  sample: { register: registerSample, args: ["--model", "m", "--prompt", "2+2?"] },
  eval: { register: registerEval, args: ["--model", "m", "--task", "countdown"] },
  sft: { register: registerSft, args: ["--model", "m", "--task", "countdown", "-o", "out"] },
} as const;

/** Runs command `name` in this process (`args` replace its stand-in required arguments when given). */
function parse(name: keyof typeof COMMANDS, extra: string[], args: readonly string[] = COMMANDS[name].args): Promise<InProcessRun> {
  return runInProcess(COMMANDS[name].register, name, [...args, ...extra]);
}

describe("--chat and --system", () => {
  it("take on|off and need chat for a system message, on sample, eval and sft", async () => {
    expect([parseChatOption("on"), parseChatOption("off")]).toEqual([true, false]);
    expect(promptFormatOf({ chat: false })).toEqual({ chat: false, system: null });
    expect(promptFormatOf({ chat: true, system: "Be brief." })).toEqual({ chat: true, system: "Be brief." });
    for (const name of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
      for (const bad of ["maybe", "ON", "true", ""]) {
        const r = await parse(name, ["--chat", bad]);
        expect(r.error, `${name} --chat ${bad}`).toBeInstanceOf(CommanderError);
        expect((r.error as CommanderError).exitCode).toBe(1);
        expect(r.stderr).toBe(`error: option '--chat <on|off>' argument '${bad}' is invalid. expected on or off, got '${bad}'\n`);
      }
      // Refused before any model is loaded or task built ("m" does not exist).
      for (const extra of [["--system", "Be brief."], ["--chat", "off", "--system", "Be brief."]]) {
        const r = await parse(name, extra);
        expect(r.error, `${name} ${extra.join(" ")}`).toEqual(new UserError("--system is a chat message: it needs --chat on"));
        expect((r.error as UserError).exitCode).toBe(1);
      }
    }
  });

  it("refuse chat for a model without a chat template, naming the folder", async () => {
    const gpu = await testGpu();
    const base = modelDir(false);
    const policy = Policy.load(gpu, base.dir);
    expect(() => applyPromptFormat(policy, { chat: true, system: null }, base.dir)).toThrow(new UserError(`${base.dir}: tokenizer_config.json has no chat_template (a base model?); use --chat off`));
    applyPromptFormat(policy, { chat: false, system: null }, base.dir);
    expect(policy.tokenizer.promptFormat).toEqual({ chat: false, system: null });
    // As a process: one line on stderr, exit 1.
    const r = acpo("sample", "--model", base.dir, "--prompt", "hi", "-n", "1", "--max-tokens", "1", "--chat", "on");
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n").at(-1)).toBe(`acpo: error: ${base.dir}: tokenizer_config.json has no chat_template (a base model?); use --chat off`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("sample renders the prompt through the template, with the system message first", async () => {
    const { dir, tokenizer } = modelDir(true);
    const promptTokens = async (...flags: string[]) => {
      const r = await parse("sample", [...flags, "-n", "1", "--max-tokens", "2"], ["--model", dir, "--prompt", "2+2?"]);
      expect(r.error).toBeNull();
      return (JSON.parse(r.stdout[0]!) as { prompt_tokens: number }).prompt_tokens;
    };
    // "<bos>system: Be brief.\nuser: 2+2?\nassistant: " against "<bos>2+2?".
    expect(tokenizer.decode(tokenizer.promptIds("2+2?", { chat: true, system: "Be brief." }))).toBe("<bos>system: Be brief.\nuser: 2+2?\nassistant: ");
    expect(await promptTokens("--chat", "on", "--system", "Be brief.")).toBe(tokenizer.promptIds("2+2?", { chat: true, system: "Be brief." }).length);
    expect(await promptTokens("--chat", "off")).toBe(1 + tokenizer.encode("2+2?").length);
  });

  it("eval and sft run with chat on and say so", async () => {
    const { dir } = modelDir(true);
    const e = await parse("eval", ["-k", "1", "--problems", "2", "--max-tokens", "2", "--chat", "on", "--system", "Be brief.", "--json"], ["--model", dir, "--task", "jsonl", "--option", "path=examples/data/math_small.jsonl", "--option", "verifier=math"]);
    expect(e.error).toBeNull();
    const r = JSON.parse(e.stdout[0]!) as { problems: number; prompt_format: unknown };
    expect(r.problems).toBe(2);
    expect(r.prompt_format).toEqual({ chat: true, system: "Be brief." });
    const out = join(mkdtempSync(join(tmpdir(), "acpo-sft-chat-")), "m");
    const s = await parse("sft", ["--steps", "1", "--batch", "2", "--eval-problems", "0", "--chat", "on", "--system", "Be brief."], ["--task", "countdown", "--model", dir, "-o", out]);
    expect(s.error).toBeNull();
    expect(s.stdout[0]).toBe('prompts through the chat template, system "Be brief."');
    expect(s.stdout.at(-1)).toBe(`saved ${out}`);
  });
});
