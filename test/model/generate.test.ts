// KV-cache decoding against the full forward, and batched generation.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { Decoder, KVCache } from "../../runtime/engine/model/decoder.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/numeric.js";

/** A tiny random policy with sharp distributions (so greedy choices have clear margins). */
function tinyPolicyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-gen-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = presetConfig("tiny", 108, 1, [2]);
  const weights = initWeights(config, 3);
  for (const [name, t] of weights) if (!name.endsWith("norm.weight")) for (let i = 0; i < t.data.length; i++) t.data[i]! *= 15;
  saveCheckpoint(dir, { config, weights, tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return dir;
}

async function fullLogits(gpu: Gpu, policy: Policy, seq: number[]): Promise<Float32Array> {
  const T = seq.length;
  return gpu.read(policy.model.forward(gpu.upload(Uint32Array.from(seq)), gpu.upload(Uint32Array.from({ length: T }, (_, i) => i)), 1, T));
}

describe("KV-cache decoding and generation", () => {
  const dir = tinyPolicyDir();

  it("prefill plus token-by-token decoding gives the full forward's logits", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const V = policy.config.vocabSize;
    const seqs = [[1, 40, 41, 42, 43, 44, 45, 46], [1, 50, 51, 52, 53, 54, 55, 56, 57, 58]];
    const prompt = [3, 5]; // prompt lengths per row
    const B = 2, Tp = 5, Tmax = 12;
    const cache = new KVCache(gpu, policy.model, B, Tmax);
    const dec = new Decoder(gpu, policy.model);
    const ids = new Uint32Array(B * Tp), pos = new Uint32Array(B * Tp);
    seqs.forEach((s, b) => { for (let t = 0; t < Tp; t++) { ids[b * Tp + t] = t < prompt[b]! ? s[t]! : 0; pos[b * Tp + t] = t; } });
    const last = gpu.upload(Uint32Array.from(prompt, (l, b) => b * Tp + l - 1));
    let logits = await gpu.read(dec.step(cache, gpu.upload(ids), gpu.upload(pos), gpu.upload(new Uint32Array(B)), Tp, last));
    const full = await Promise.all(seqs.map((s) => fullLogits(gpu, policy, s)));
    for (let b = 0; b < B; b++) expectClose(logits.subarray(b * V, (b + 1) * V), full[b]!.subarray((prompt[b]! - 1) * V, prompt[b]! * V), 1e-4, 1e-4, `prefill row ${b}`);
    for (let i = 0; i < 3; i++) {
      const cur = Uint32Array.from(seqs, (s, b) => s[prompt[b]! + i]!);
      const p = Uint32Array.from(prompt, (l) => l + i);
      const tp = gpu.upload(p);
      logits = await gpu.read(dec.step(cache, gpu.upload(cur), tp, tp, 1));
      for (let b = 0; b < B; b++) expectClose(logits.subarray(b * V, (b + 1) * V), full[b]!.subarray((prompt[b]! + i) * V, (prompt[b]! + i + 1) * V), 1e-4, 1e-4, `step ${i} row ${b}`);
    }
    cache.release();
    dec.release();
  });

  it("greedy generation picks the full forward's argmax at every step, for prompts of different lengths", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const V = policy.config.vocabSize;
    const prompts = [[1, 10, 11], [1, 20, 21, 22, 23, 24], [1, 30]];
    const g = await generate(policy, prompts, { maxNewTokens: 12, temperature: 0, seed: 0, stopIds: [], checkEvery: 5 });
    for (let b = 0; b < prompts.length; b++) {
      expect(g.tokens[b]).toHaveLength(12);
      expect(g.finish[b]).toBe("length");
      const seq = [...prompts[b]!, ...g.tokens[b]!];
      const logits = await fullLogits(gpu, policy, seq);
      for (let i = 0; i < 12; i++) {
        const row = logits.subarray((prompts[b]!.length - 1 + i) * V, (prompts[b]!.length + i) * V);
        const argmax = row.indexOf(Math.max(...row));
        expect(g.tokens[b]![i], `row ${b} step ${i}`).toBe(argmax);
      }
      // The reported log-probabilities are those of the full forward.
      const { logprobs } = await policy.score([seq]);
      expectClose(g.logprobs[b]!, logprobs[0]!.slice(prompts[b]!.length - 1), 1e-4, 1e-4, `row ${b} logprobs`);
    }
  });

  it("sampling repeats exactly for a seed, differs across seeds, and stops at stop ids and strings", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const prompts = Array.from({ length: 9 }, (_, b) => [1, 10 + b]);
    const o = { maxNewTokens: 20, temperature: 1, seed: 5, stopIds: [] as number[] };
    const a = await generate(policy, prompts, o);
    const b = await generate(policy, prompts, o);
    const c = await generate(policy, prompts, { ...o, seed: 6 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    // Stop at the first occurrence of a token that row 0 produced at step 4.
    const stopId = a.tokens[0]![4]!;
    const s = await generate(policy, prompts, { ...o, stopIds: [stopId] });
    expect(s.tokens[0]!.indexOf(stopId)).toBe(s.tokens[0]!.length - 1);
    expect(s.finish[0]).toBe("eos");
    const text = policy.tokenizer.decode(a.tokens[0]!.slice(2, 4));
    const t = await generate(policy, prompts, { ...o, stopStrings: [text] });
    expect(t.text[0]!.endsWith(text)).toBe(true);
    expect(t.text[0]!.indexOf(text)).toBe(t.text[0]!.length - text.length);
  });
});
