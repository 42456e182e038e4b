// The GPU transformer against the plain-TypeScript reference model: logits, and gradients
// against central finite differences of the reference in float64.
import { describe, expect, it } from "vitest";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { parameterSpecs } from "../../runtime/engine/model/layout.js";
import { referenceLogits } from "../../runtime/engine/model/reference.js";
import type { TensorMap } from "../../runtime/engine/model/safetensors.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray, randInts, rng } from "../helpers/numeric.js";

type Variant = "LlamaForCausalLM" | "Qwen2ForCausalLM" | "Qwen3ForCausalLM" | "LlamaForCausalLM+llama3";

// llama3 rope scaling with original 32 positions at theta 500, D 8: wavelengths 6.3 (kept,
// < 32/4), 29.7 (interpolated, between 8 and 32), 140 and 664 (divided by the factor).
const LLAMA3_SCALING = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 };

function config(variant: Variant, tie: boolean): ModelConfig {
  const arch = variant.replace("+llama3", "");
  return parseConfig({
    ...(variant.endsWith("+llama3") ? { rope_scaling: LLAMA3_SCALING } : {}),
    architectures: [arch], vocab_size: 29, hidden_size: 24, intermediate_size: 36, num_hidden_layers: 2,
    num_attention_heads: 6, num_key_value_heads: 2, head_dim: 8, rms_norm_eps: 1e-5, rope_theta: 500,
    max_position_embeddings: 64, tie_word_embeddings: tie,
  });
}

function weights(c: ModelConfig, seed: number): TensorMap {
  const m: TensorMap = new Map();
  parameterSpecs(c).forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.name.endsWith("norm.weight") ? randArray(n, seed + i, 0.7, 1.3) : randArray(n, seed + i, -0.4, 0.4);
    m.set(s.name, { shape: s.shape, data });
  });
  return m;
}

const CASES = [
  ["LlamaForCausalLM", true],
  ["Qwen2ForCausalLM", false],
  ["Qwen3ForCausalLM", false],
  ["LlamaForCausalLM+llama3", true],
] as const;

describe("GPU transformer", () => {
  it.each(CASES)("%s (tied=%s): logits match the reference for a (3, 7) batch", async (arch, tie) => {
    const gpu = await testGpu();
    const c = config(arch, tie);
    const w = weights(c, 3);
    const model = new Transformer(gpu, new GpuWeights(gpu, c, w));
    const B = 3, T = 7;
    const ids = randInts(B * T, 5, c.vocabSize);
    const pos = Uint32Array.from({ length: B * T }, (_, i) => i % T);
    const logits = await gpu.read(model.forward(gpu.upload(ids), gpu.upload(pos), B, T));
    for (let b = 0; b < B; b++) {
      const ref = referenceLogits(c, w, Array.from(ids.subarray(b * T, (b + 1) * T)));
      expectClose(logits.subarray(b * T * c.vocabSize, (b + 1) * T * c.vocabSize), ref, 2e-5, 2e-4, `row ${b} logits`);
    }
  });

  it.each(CASES)("%s (tied=%s): gradients match finite differences of the reference", async (arch, tie) => {
    const gpu = await testGpu();
    const c = config(arch, tie);
    const w = weights(c, 7);
    const gw = new GpuWeights(gpu, c, w);
    const model = new Transformer(gpu, gw);
    const B = 2, T = 5, V = c.vocabSize;
    const ids = randInts(B * T, 9, V);
    const pos = Uint32Array.from({ length: B * T }, (_, i) => i % T);
    const G = randArray(B * T * V, 13); // L = sum(logits * G), so dL/dlogits = G
    gw.zeroGrads();
    model.forward(gpu.upload(ids), gpu.upload(pos), B, T);
    model.backward(gpu.upload(G, [B * T, V]));
    const loss = () => {
      let s = 0;
      for (let b = 0; b < B; b++) {
        const ref = referenceLogits(c, w, Array.from(ids.subarray(b * T, (b + 1) * T)));
        for (let i = 0; i < ref.length; i++) s += ref[i]! * G[b * T * V + i]!;
      }
      return s;
    };
    const r = rng(17);
    // A few entries of every parameter: the FD reference in float64 is exact to ~1e-7.
    for (const spec of parameterSpecs(c)) {
      const grad = await gpu.read(gw.grad(spec.name));
      const data = w.get(spec.name)!.data;
      for (let trial = 0; trial < 2; trial++) {
        const i = Math.floor(r() * data.length);
        const x0 = data[i]!;
        const h = 1e-2; // data is f32: a large step keeps the perturbation exact; the loss is smooth
        data[i] = x0 + h;
        const fp = loss();
        data[i] = x0 - h;
        const fm = loss();
        data[i] = x0;
        const fd = (fp - fm) / (2 * h);
        const tol = 2e-3 + 2e-2 * Math.abs(fd);
        expect(Math.abs(grad[i]! - fd), `${spec.name}[${i}]: gpu ${grad[i]} fd ${fd}`).toBeLessThan(tol);
      }
    }
  });
});
