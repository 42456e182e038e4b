// Sampling with the LM head in row chunks (generate.ts via lm-head.ts): chunking changes no
// draw (the sampler's RNG counts rows from the batch's first, sample.ts rowOffset), and a
// 151,936-token vocabulary samples 224 rows at once, more than one storage binding holds.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { sampleTokens } from "../../runtime/engine/ops/sample.js";
import { testGpu } from "../helpers/gpu.js";
import { qwen2Config } from "../helpers/models.js";
import { expectClose, randArray } from "../helpers/numeric.js";
import { parseConfig } from "../../runtime/engine/model/config.js";
import { Decoder, KVCache } from "../../runtime/engine/model/decoder.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";

function policyDir(V: number): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-genchunk-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = qwen2Config(V, 32, 64);
  saveCheckpoint(dir, { config, weights: initWeights(config, 4), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return dir;
}

const saved = process.env.ACPO_LOGITS_CHUNK_MB;
afterEach(() => {
  if (saved === undefined) delete process.env.ACPO_LOGITS_CHUNK_MB;
  else process.env.ACPO_LOGITS_CHUNK_MB = saved;
});

describe("sampler rows in chunks", () => {
  it("sampleTokens over row chunks with rowOffset equals one call over every row (top-p 0.9)", async () => {
    const gpu = await testGpu();
    const rows = 10, V = 53;
    const logits = randArray(rows * V, 8, -3, 3);
    const run = async (chunks: [number, number][]) => {
      const ids = gpu.zeros([rows], "ids", "u32"), lp = gpu.zeros([rows]), H = gpu.zeros([rows]);
      for (const [r0, r1] of chunks) {
        const part = gpu.upload(logits.slice(r0 * V, r1 * V));
        sampleTokens(gpu, ids, lp, H, part, { rows: r1 - r0, V, temperature: 1, topP: 0.9, seed: 3, step: 2, idsCol: r0, statCol: r0, rowOffset: r0 });
      }
      return { ids: Array.from(await gpu.readU32(ids)), lp: Array.from(await gpu.read(lp)), H: Array.from(await gpu.read(H)) };
    };
    const whole = await run([[0, rows]]);
    expect(await run([[0, 4], [4, 7], [7, 10]])).toEqual(whole);
    // Without the offset, the chunks' rows would draw rows 0.. again: some pick differs.
    expect(new Set(whole.ids).size).toBeGreaterThan(3);
  });

  it("generate() with 3-row head chunks gives the tokens, log-probs and entropies of one chunk", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, policyDir(113));
    const prompts = Array.from({ length: 8 }, (_, b) => [1, 10 + b, 20 + b]);
    const o = { maxNewTokens: 6, temperature: 1, topP: 0.9, seed: 11, stopIds: [] as number[] };
    const one = await generate(policy, prompts, o);
    process.env.ACPO_LOGITS_CHUNK_MB = String((3 * 4 * 113) / 2 ** 20);
    const chunked = await generate(policy, prompts, o);
    expect(chunked.tokens).toEqual(one.tokens);
    expect(chunked.logprobs).toEqual(one.logprobs);
    expect(chunked.entropies).toEqual(one.entropies);
    policy.release();
  });

  it("samples 224 rows of a 151,936-token vocabulary at once (224 x V logits exceed the 128 MiB binding)", async () => {
    const gpu = await testGpu();
    const V = 151936;
    const policy = Policy.load(gpu, policyDir(V));
    const prompts = Array.from({ length: 224 }, (_, b) => [1, 10 + (b % 50)]);
    const g = await generate(policy, prompts, { maxNewTokens: 2, temperature: 1, topP: 0.95, seed: 2, stopIds: [] });
    expect(g.tokens.every((t) => t.length === 2 && t.every((id) => Number.isInteger(id) && id >= 0 && id < V))).toBe(true);
    for (let b = 0; b < 224; b++) {
      for (const lp of g.logprobs[b]!) expect(lp < 0 && Number.isFinite(lp)).toBe(true);
      for (const h of g.entropies[b]!) expect(h > 0 && h <= Math.log(V) + 1e-3).toBe(true);
    }
    // The draws agree with scoring: the generated tokens' log-probs are the policy's own.
    const seqs = [0, 111, 223].map((b) => [...prompts[b]!, ...g.tokens[b]!]);
    const scored = await policy.score(seqs);
    [0, 111, 223].forEach((b, i) => {
      expect(Math.abs(scored.logprobs[i]![1]! - g.logprobs[b]![0]!)).toBeLessThan(1e-4);
      expect(Math.abs(scored.logprobs[i]![2]! - g.logprobs[b]![1]!)).toBeLessThan(1e-4);
    });
    policy.release();
  }, 600_000);
});

describe("KV-cache decoding of Qwen3 with Llama 3 rope scaling", () => {
  it("prefill plus token-by-token decoding gives the full forward's logits (q_norm/k_norm and scaled RoPE in the decoder)", async () => {
    const gpu = await testGpu();
    const c = parseConfig({
      architectures: ["Qwen3ForCausalLM"], vocab_size: 41, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 2, head_dim: 12, max_position_embeddings: 64, rope_theta: 500,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
    });
    const w = initWeights(c, 9);
    for (const [name, t] of w) if (name.endsWith("_norm.weight")) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + ((i * 7) % 5) / 4;
    const model = new Transformer(gpu, new GpuWeights(gpu, c, w));
    const V = c.vocabSize, seq = [1, 7, 30, 12, 5, 22, 9, 40, 3];
    const full = await gpu.read(model.forward(gpu.upload(Uint32Array.from(seq)), gpu.upload(Uint32Array.from(seq.keys())), 1, seq.length));
    const cache = new KVCache(gpu, model, 1, 16);
    const dec = new Decoder(gpu, model);
    const Tp = 4;
    let logits = await gpu.read(dec.step(cache, gpu.upload(Uint32Array.from(seq.slice(0, Tp))), gpu.upload(Uint32Array.from([0, 1, 2, 3])), gpu.upload(new Uint32Array(1)), Tp, gpu.upload(Uint32Array.of(Tp - 1))));
    expectClose(logits.subarray(0, V), full.subarray((Tp - 1) * V, Tp * V), 1e-4, 1e-4, "prefill");
    for (let t = Tp; t < seq.length; t++) {
      const p = gpu.upload(Uint32Array.of(t));
      logits = await gpu.read(dec.step(cache, gpu.upload(Uint32Array.of(seq[t]!)), p, p, 1));
      expectClose(logits.subarray(0, V), full.subarray(t * V, (t + 1) * V), 1e-4, 1e-4, `position ${t}`);
    }
    cache.release();
    dec.release();
    model.release();
  });
});
