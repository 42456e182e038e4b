// Chat templates: the Jinja template of a model's tokenizer_config.json ("chat_template"),
// rendered with @huggingface/jinja (Hugging Face's own JavaScript implementation), so a
// prompt reaches an instruction-tuned model in the format it was trained on:
// "<|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n" for Qwen, header tokens for
// Llama 3. The rendered text holds the special tokens as text; encoding matches them as
// added tokens, so they become their ids.
import { Template } from "@huggingface/jinja";
import { CheckpointError } from "./safetensors.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** The messages of one prompt: the system message when there is one, then the prompt as the user's turn. */
export function promptMessages(prompt: string, system: string | null): ChatMessage[] {
  return [...(system !== null ? [{ role: "system" as const, content: system }] : []), { role: "user", content: prompt }];
}

/** A special token of tokenizer_config.json as text: "x", or { content: "x" }; "" when absent. */
function specialText(v: unknown): string {
  if (typeof v === "string") return v;
  const c = (v as { content?: unknown } | null | undefined)?.content;
  return typeof c === "string" ? c : "";
}

export class ChatTemplate {
  private readonly template: Template;
  private readonly specials: Record<string, string>;

  constructor(readonly source: string, config: Record<string, unknown>, private readonly where: string) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new CheckpointError(`${where}: chat_template is not a valid Jinja template (${(e as Error).message})`);
    }
    this.specials = Object.fromEntries(["bos_token", "eos_token", "pad_token", "unk_token"].map((k) => [k, specialText(config[k])]));
  }

  /**
   * tokenizer_config.json's "chat_template": a string, or a list of { name, template } of
   * which "default" is used; null when the config has none (a base model).
   */
  static fromConfig(config: Record<string, unknown>, where = "tokenizer_config.json"): ChatTemplate | null {
    const t = config.chat_template;
    if (t === undefined || t === null) return null;
    if (typeof t === "string") return new ChatTemplate(t, config, where);
    if (Array.isArray(t)) {
      const named = t.find((x) => (x as { name?: unknown } | null)?.name === "default") as { template?: unknown } | undefined;
      if (typeof named?.template === "string") return new ChatTemplate(named.template, config, where);
      throw new CheckpointError(`${where}: chat_template is a list without a { "name": "default", "template": "..." } entry`);
    }
    throw new CheckpointError(`${where}: chat_template must be a string or a list of { name, template }, got ${JSON.stringify(t).slice(0, 60)}`);
  }

  /** The text of `messages`, ending with the assistant's turn opened when `addGenerationPrompt`. */
  render(messages: ChatMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({ ...this.specials, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      throw new CheckpointError(`${this.where}: chat_template failed to render (${(e as Error).message})`);
    }
  }

  /** Whether the template writes the BOS token itself (then the caller must not add another). */
  addsBos(): boolean {
    const bos = this.specials.bos_token!;
    return bos !== "" && this.render([{ role: "user", content: "x" }]).startsWith(bos);
  }
}
