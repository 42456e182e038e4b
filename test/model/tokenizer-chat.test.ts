// Chat templates from the real Qwen3 and Llama 3 tokenizer_config.json (rendered with
// @huggingface/jinja), prompt ids through them, and the end-of-turn ids generation stops on
// (generation_config.json's eos_token_id).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { promptIds } from "../../runtime/loop/eval/evaluate.js";
import { ChatTemplate } from "../../runtime/engine/model/chat-template.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { CheckpointError } from "../../runtime/engine/model/safetensors.js";
import { charTokenizerFiles, TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { testGpu } from "../helpers/gpu.js";
import { realTokenizer, realTokenizerFiles } from "./tokenizer-files.js";

describe("chat templates of the real tokenizer_config.json files", () => {
  it("Qwen3: system and user turns, the assistant's turn opened, special tokens as their ids", () => {
    const tok = realTokenizer("qwen3");
    const text = tok.renderChat([{ role: "system", content: "Reason step by step." }, { role: "user", content: "What is 2 + 3? 🙂" }]);
    expect(text).toBe("<|im_start|>system\nReason step by step.<|im_end|>\n<|im_start|>user\nWhat is 2 + 3? 🙂<|im_end|>\n<|im_start|>assistant\n");
    const ids = tok.promptIds("What is 2 + 3? 🙂", { chat: true, system: "Reason step by step." });
    expect(tok.decode(ids)).toBe(text);
    const imStart = tok.tokenToId("<|im_start|>")!, imEnd = tok.tokenToId("<|im_end|>")!;
    expect([imStart, imEnd]).toEqual([151644, 151645]);
    expect(ids.filter((id) => id === imStart)).toHaveLength(3);
    expect(ids.filter((id) => id === imEnd)).toHaveLength(2);
    expect(ids.slice(-3).map((id) => tok.decode([id]))).toEqual(["<|im_start|>", "assistant", "\n"]);
    // Without a system message there is no system turn (this template adds none).
    expect(tok.renderChat([{ role: "user", content: "hi" }])).toBe("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    // Chat off: the plain text (Qwen has no BOS token).
    expect(tok.bosId).toBeNull();
    expect(tok.promptIds("hi")).toEqual(tok.encode("hi"));
  });

  it("Llama 3: one BOS (the template writes it), header tokens, content trimmed", () => {
    const tok = realTokenizer("llama3");
    const ids = tok.promptIds("  What is 2 + 3?\n", { chat: true });
    expect(tok.decode(ids)).toBe("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 3?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    expect(ids[0]).toBe(128000);
    expect(ids.filter((id) => id === 128000)).toHaveLength(1);
    expect(ids.filter((id) => id === tok.tokenToId("<|start_header_id|>"))).toHaveLength(2);
    expect(tok.chatTemplate!.addsBos()).toBe(true);
    expect(tok.promptIds("hi")).toEqual([128000, ...tok.encode("hi")]);
  });

  it("refuses chat for a model without a template, and a broken template, by file", () => {
    const files = charTokenizerFiles(["So"]);
    const plain = new TextTokenizer(files.tokenizer, files.tokenizerConfig, "models/tiny/tokenizer.json");
    expect(plain.chatTemplate).toBeNull();
    expect(() => plain.promptIds("x", { chat: true })).toThrow(new CheckpointError("the prompt asks for the chat template but tokenizer_config.json has no chat_template (a base model?); turn chat off"));
    expect(() => new TextTokenizer(files.tokenizer, { ...files.tokenizerConfig, chat_template: "{% for m in messages %}" }, "models/tiny/tokenizer.json")).toThrow(
      /^models\/tiny\/tokenizer_config\.json: chat_template is not a valid Jinja template \(/,
    );
    expect(() => ChatTemplate.fromConfig({ chat_template: [{ name: "tool_use", template: "x" }] }, "cfg.json")).toThrow('cfg.json: chat_template is a list without a { "name": "default", "template": "..." } entry');
    const listed = ChatTemplate.fromConfig({ bos_token: { content: "<s>" }, chat_template: [{ name: "default", template: "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}" }] })!;
    expect(listed.render([{ role: "user", content: "2+2?" }])).toBe("<s>[user] 2+2?\n[assistant] ");
    expect(listed.render([{ role: "user", content: "2+2?" }], false)).toBe("<s>[user] 2+2?\n");
  });
});

describe("end-of-turn ids from generation_config.json", () => {
  it("adds every eos_token_id to the tokenizer's EOS (Llama 3 Instruct: <|eot_id|> and <|eom_id|>)", () => {
    const f = realTokenizerFiles("llama3");
    const tok = new TextTokenizer(f.tokenizer, f.config, "llama/tokenizer.json", { eos_token_id: [128001, 128008, 128009] });
    expect(tok.eosIds).toEqual([128001, 128008, 128009]);
    expect(tok.tokenToId("<|eot_id|>")).toBe(128009);
    const q = realTokenizerFiles("qwen3");
    expect(new TextTokenizer(q.tokenizer, q.config, "qwen/tokenizer.json", { eos_token_id: [151645, 151643] }).eosIds).toEqual([151645, 151643]);
    // A single id, and one already the tokenizer's EOS, count once.
    const files = charTokenizerFiles(["So"]);
    expect(new TextTokenizer(files.tokenizer, files.tokenizerConfig, "t/tokenizer.json", { eos_token_id: 7 }).eosIds).toEqual([2, 7]);
    expect(new TextTokenizer(files.tokenizer, files.tokenizerConfig, "t/tokenizer.json", { eos_token_id: [2] }).eosIds).toEqual([2]);
  });

  it("refuses an eos_token_id outside the vocabulary, naming generation_config.json", () => {
    const files = charTokenizerFiles(["So"]);
    expect(() => new TextTokenizer(files.tokenizer, files.tokenizerConfig, "models/tiny/tokenizer.json", { eos_token_id: [2, 5000] })).toThrow(
      new CheckpointError("models/tiny/generation_config.json: eos_token_id must be a token id from 0 to 99 or a list of them, got [2,5000]"),
    );
    expect(() => new TextTokenizer(files.tokenizer, files.tokenizerConfig, "t/tokenizer.json", { eos_token_id: "2" })).toThrow(/eos_token_id must be a token id/);
  });

  it("generation stops on an id that only generation_config.json names", async () => {
    // Every id but the tokenizer's own <eos> is listed as an end of turn: each response ends
    // at its first token, with finish "eos" (tokenizer_config alone would run to max_tokens).
    const dir = mkdtempSync(join(tmpdir(), "acpo-eot-"));
    const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
    const config = presetConfig("tiny", 108, 1, [2]);
    const all = Array.from({ length: 108 }, (_, i) => i).filter((i) => i !== 2);
    const template = "{{ bos_token }}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
    const tokenizerConfig = { ...files.tokenizerConfig, chat_template: template };
    saveCheckpoint(dir, { config, weights: initWeights(config, 3), tokenizer: files.tokenizer, tokenizerConfig, generationConfig: { eos_token_id: all } });
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    expect(policy.tokenizer.eosIds[0]).toBe(2);
    const g = await generate(policy, [[1, 40, 41], [1, 50]], { maxNewTokens: 12, temperature: 1, seed: 5 });
    expect(g.finish).toEqual(["eos", "eos"]);
    expect(g.tokens.map((t) => t.length)).toEqual([1, 1]);
    // The run's prompt format decides how every prompt is written (rollouts, eval, SFT).
    expect(promptIds(policy, "2+2?")).toEqual([1, ...policy.tokenizer.encode("2+2?")]);
    policy.tokenizer.promptFormat = { chat: true, system: "Be brief." };
    expect(policy.tokenizer.decode(promptIds(policy, "2+2?"))).toBe("<bos>system: Be brief.\nuser: 2+2?\nassistant: ");
    expect(promptIds(policy, "2+2?")[0]).toBe(1);
  });
});
