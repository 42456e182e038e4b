// generate() prefills each distinct prompt once and copies its keys, values and last hidden
// state into the rows that repeat it (generate.ts prefill, ops/kv-rows.ts): the responses, their
// log-probabilities and entropies, and the cache a caller keeps, are those of prefilling every
// row, bit for bit.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { KVCache } from "../../runtime/engine/model/decoder.js";
import { generate, type GenerateOptions } from "../../runtime/engine/model/generate.js";
import { blockPrefixes, distinctRows } from "../../runtime/engine/model/padded-batch.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { testGpu } from "../helpers/gpu.js";

const MODEL = new URL("../../models/countdown-tiny", import.meta.url).pathname;

/**
 * Every layer's keys and values as bits, at the positions a generation wrote: row b's first
 * `written[b]` (the positions past them are whatever the pooled buffer held).
 */
async function cacheBits(gpu: Gpu, cache: KVCache, written: number[]): Promise<number[][]> {
  const { numKvHeads: H, headDim: D } = cache.model.config, T = cache.Tmax;
  const out: number[][] = [];
  for (const t of [...cache.k, ...cache.v]) {
    const bits = new Uint32Array((await gpu.read(t)).buffer); // (B, H, Tmax, D)
    written.forEach((n, b) => { for (let h = 0; h < H; h++) out.push(Array.from(bits.subarray(((b * H + h) * T) * D, ((b * H + h) * T + n) * D))); });
  }
  return out;
}

describe("shared prefill", () => {
  it("finds the distinct rows in order of first appearance", () => {
    const d = distinctRows([[1, 2], [3], [1, 2], [1, 2, 0], [3], [1, 2]]);
    expect(d.first).toEqual([0, 1, 3]);
    expect(Array.from(d.of)).toEqual([0, 1, 0, 2, 1, 0]);
    expect(distinctRows([[12, 3], [1, 23]]).first).toEqual([0, 1]); // not confused by digits
  });

  it("samples the tokens, log-probs and entropies of a prefill of every row, and keeps the same cache", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, MODEL);
    const tok = (s: string) => policy.tokenizer.encode(s);
    // Three prompts of different lengths, repeated out of order, and one that appears once.
    const [a, b, c, d] = [tok("Use 3, 5, 7 to reach 22."), tok("Use 2, 9 to reach 18."), tok("Use 4, 4, 6, 1 to reach 30. Show steps."), tok("Use 8 to reach 8.")];
    const prompts = [a, b, a, c, b, a, d, c, b, a, c, b];
    const o: GenerateOptions = { maxNewTokens: 24, temperature: 1, topK: 40, seed: 3, stopIds: [], checkEvery: 5, keepCache: true };
    const shared = await generate(policy, prompts, o);
    const every = await generate(policy, prompts, { ...o, sharePrefill: false });
    expect(shared.tokens).toEqual(every.tokens);
    expect(shared.logprobs).toEqual(every.logprobs);
    expect(shared.entropies).toEqual(every.entropies);
    expect(shared.finish).toEqual(every.finish);
    // Each row keeps its own random stream: repeats of a prompt sample different responses.
    expect(shared.tokens[0]).not.toEqual(shared.tokens[2]);
    // The prompt (padding included) and every decoded token but the last, which is never fed back.
    const Tp = Math.max(...prompts.map((p) => p.length));
    const written = prompts.map((p) => Math.max(Tp, p.length + o.maxNewTokens - 1));
    expect(await cacheBits(gpu, shared.cache!, written)).toEqual(await cacheBits(gpu, every.cache!, written));
    shared.cache!.release();
    every.cache!.release();
    policy.release();
  });

  it("marks the aligned blocks of 8 rows that repeat one prompt with its length", () => {
    const of = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4];
    const lens = of.map((u) => 10 + u);
    expect(Array.from(blockPrefixes(of, lens, 8)!)).toEqual([...Array(8).fill(10), ...Array(8).fill(0), ...Array(8).fill(13), 0, 0]);
    expect(blockPrefixes(of.slice(8, 16), lens.slice(8, 16), 8)).toBeNull(); // two prompts of 4
    expect(blockPrefixes([0, 0, 0], [5, 5, 5], 8)).toBeNull(); // fewer rows than a block
  });

  it("reads the shared prompt once per aligned block of 8 (attention 'rows-sg') with the bits of a prefill of every row", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, MODEL);
    const tok = (s: string) => policy.tokenizer.encode(s);
    // Two groups of 8 (prompts of different lengths), then a group of 5: blocks 0 and 1 share, the last holds 5 rows.
    const [a, b, c] = [tok("Use 3, 5, 7 to reach 22. Show your steps."), tok("Use 2, 9 to reach 18."), tok("Use 8 to reach 8.")];
    const prompts = [...Array(8).fill(a), ...Array(8).fill(b), ...Array(5).fill(c)] as number[][];
    const o: GenerateOptions = { maxNewTokens: 30, temperature: 1, seed: 5, stopIds: [], checkEvery: 7, keepCache: true };
    const shared = await generate(policy, prompts, o);
    const every = await generate(policy, prompts, { ...o, sharePrefill: false });
    expect(shared.tokens).toEqual(every.tokens);
    expect(shared.logprobs).toEqual(every.logprobs);
    expect(shared.entropies).toEqual(every.entropies);
    expect(shared.tokens[0]).not.toEqual(shared.tokens[1]);
    const Tp = Math.max(...prompts.map((p) => p.length));
    const written = prompts.map((p) => Math.max(Tp, p.length + o.maxNewTokens - 1));
    expect(await cacheBits(gpu, shared.cache!, written)).toEqual(await cacheBits(gpu, every.cache!, written));
    shared.cache!.release();
    every.cache!.release();
    policy.release();
  });
});
