// `--chat on|off` and `--system TEXT` for the commands that prompt a model (sample, eval,
// sft): the language's task settings `chat` and `system` (spec/language.md, "task"), with
// the same meaning: chat off (the default) writes the prompt as plain text after the BOS
// token; chat on renders it through the model's chat_template (tokenizer_config.json),
// with the system message first when one is given; a system message needs chat on.
import { type Command, InvalidArgumentError } from "commander";
import type { Policy } from "../runtime/engine/model/policy.js";
import type { PromptFormat } from "../runtime/engine/model/tokenizer.js";
import { UserError } from "./errors.js";

export interface PromptFlags {
  chat: boolean;
  system?: string;
}

/** "on" or "off", as the language writes it. */
export function parseChatOption(value: string): boolean {
  if (value === "on") return true;
  if (value === "off") return false;
  throw new InvalidArgumentError(`expected on or off, got '${value}'`);
}

/** Adds --chat and --system to a command. */
export function withPromptOptions(cmd: Command): Command {
  return cmd
    .option("--chat <on|off>", "render prompts through the model's chat template (tokenizer_config.json's chat_template)", parseChatOption, false)
    .option("--system <text>", "system message of a chat prompt (needs --chat on)");
}

/** The flags as a prompt format; a system message without chat is refused, as in the language (E0401). */
export function promptFormatOf(o: PromptFlags): PromptFormat {
  if (o.system !== undefined && !o.chat) throw new UserError("--system is a chat message: it needs --chat on");
  return { chat: o.chat, system: o.system ?? null };
}

/**
 * Sets the policy's prompt format (every prompt of the command goes through it), refusing
 * chat for a model whose tokenizer_config.json has no chat_template before any work starts.
 */
export function applyPromptFormat(policy: Policy, format: PromptFormat, modelDir: string): void {
  if (format.chat && policy.tokenizer.chatTemplate === null) {
    throw new UserError(`${modelDir}: tokenizer_config.json has no chat_template (a base model?); use --chat off`);
  }
  policy.tokenizer.promptFormat = format;
}
