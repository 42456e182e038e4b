// The decoder's fused path (packed QKV and gate|up matmuls, RoPE + cache append in one
// kernel, residual add + RMSNorm in one kernel; decoder.ts) against the unfused path: the
// same logits bit for bit, so sampling draws the same tokens. Prefill (Tq > 1, gathered
// last rows), a scoring step (Tq > 1, every row) and decoding steps (Tq = 1), on a Llama
// model without biases and a Qwen2 model with q/k/v biases.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../runtime/engine/model/config.js";
import { Decoder, KVCache } from "../../runtime/engine/model/decoder.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { testGpu } from "../helpers/gpu.js";
import { qwen2Config } from "../helpers/models.js";
import { rng } from "../helpers/numeric.js";

const llama = parseConfig({
  architectures: ["LlamaForCausalLM"], vocab_size: 37, hidden_size: 20, intermediate_size: 44, num_hidden_layers: 3, num_attention_heads: 5,
  num_key_value_heads: 1, head_dim: 8, max_position_embeddings: 64, rope_theta: 1000, initializer_range: 0.3,
});

describe("fused decoding equals unfused decoding", () => {
  it.each([["Llama, 3 layers, Hq 5 / Hkv 1", llama], ["Qwen2 with q/k/v biases", qwen2Config(29, 32, 64)]])("%s: prefill, scoring and decoding logits bit for bit", async (_, config) => {
    const gpu = await testGpu();
    const w = initWeights(config, 17);
    const r = rng(5);
    for (const [name, t] of w) if (name.endsWith(".bias") || name.endsWith("norm.weight")) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + r();
    const model = new Transformer(gpu, new GpuWeights(gpu, config, w));
    const fused = new Decoder(gpu, model, { pack: true, fuseNorm: true });
    const plain = new Decoder(gpu, model, { pack: false, fuseNorm: false });
    expect([fused.packQkv, fused.packGu, fused.fuseNorm, plain.packQkv, plain.packGu, plain.fuseNorm]).toEqual([true, true, true, false, false, false]);
    const B = 3, Tp = 6, Tmax = 20;
    const caches = [new KVCache(gpu, model, B, Tmax), new KVCache(gpu, model, B, Tmax)];
    const lens = [6, 2, 4];
    const ids = Uint32Array.from({ length: B * Tp }, (_, i) => (i * 7 + 3) % config.vocabSize);
    const pos = Uint32Array.from({ length: B * Tp }, (_, i) => i % Tp);
    const run = async (dec: Decoder, cache: KVCache): Promise<number[][]> => {
      const out: number[][] = [];
      const zero = gpu.upload(new Uint32Array(B));
      out.push(Array.from(await gpu.read(dec.step(cache, gpu.upload(ids), gpu.upload(pos), zero, Tp, gpu.upload(Uint32Array.from(lens, (l, b) => b * Tp + l - 1))))));
      for (let i = 0; i < 4; i++) {
        const p = gpu.upload(Uint32Array.from(lens, (l) => l + i));
        out.push(Array.from(await gpu.read(dec.step(cache, gpu.upload(Uint32Array.from({ length: B }, (_, b) => (b * 5 + i) % config.vocabSize)), p, p, 1))));
      }
      // Score 3 more tokens per row after what is cached (every row's logits).
      const st = Uint32Array.from(lens, (l) => l + 4);
      const sp = Uint32Array.from({ length: 3 * B }, (_, n) => st[Math.floor(n / 3)]! + (n % 3));
      out.push(Array.from(await gpu.read(dec.step(cache, gpu.upload(Uint32Array.from(sp, (p) => p % config.vocabSize)), gpu.upload(sp), gpu.upload(st), 3))));
      return out;
    };
    const a = await run(fused, caches[0]!), b = await run(plain, caches[1]!);
    expect(a.flat().every(Number.isFinite)).toBe(true);
    a.forEach((step, i) => expect(step, `call ${i}`).toEqual(b[i]));
    for (let l = 0; l < config.numLayers; l++) {
      expect(Array.from(await gpu.read(caches[0]!.k[l]!))).toEqual(Array.from(await gpu.read(caches[1]!.k[l]!)));
      expect(Array.from(await gpu.read(caches[0]!.v[l]!))).toEqual(Array.from(await gpu.read(caches[1]!.v[l]!)));
    }
    for (const c of caches) c.release();
    fused.release();
    plain.release();
    model.release();
  });
});
