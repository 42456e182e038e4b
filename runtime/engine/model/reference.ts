// Plain-TypeScript forward pass of LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM in float64, written
// from Hugging Face's modeling code with explicit loops. It is the oracle for the GPU model:
// slow, obvious, and independent of every kernel.
import type { ModelConfig } from "./config.js";
import type { TensorMap } from "./safetensors.js";

/** Logits (T, V) for one sequence of token ids (positions 0..T-1). */
export function referenceLogits(c: ModelConfig, w: TensorMap, ids: readonly number[]): Float64Array {
  const T = ids.length, C = c.hiddenSize, D = c.headDim, Hq = c.numHeads, Hkv = c.numKvHeads;
  const get = (name: string): Float32Array => {
    const t = w.get(name);
    if (!t) throw new Error(`reference model: missing tensor ${name}`);
    return t.data;
  };
  const embed = get("model.embed_tokens.weight"); // (V, C)
  let h: Float64Array = new Float64Array(T * C); // (T, C) residual stream
  ids.forEach((id, t) => { for (let i = 0; i < C; i++) h[t * C + i] = embed[id * C + i]!; });

  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = rmsnorm(h, get(`${p}.input_layernorm.weight`), T, C, c.rmsNormEps);
    const bias = (n: string) => (w.has(`${p}.self_attn.${n}.bias`) ? get(`${p}.self_attn.${n}.bias`) : null);
    const q = linear(x, get(`${p}.self_attn.q_proj.weight`), bias("q_proj"), T, C, Hq * D); // (T, Hq, D)
    const k = linear(x, get(`${p}.self_attn.k_proj.weight`), bias("k_proj"), T, C, Hkv * D); // (T, Hkv, D)
    const v = linear(x, get(`${p}.self_attn.v_proj.weight`), bias("v_proj"), T, C, Hkv * D); // (T, Hkv, D)
    const qn = c.qkNorm ? rmsnorm(q, get(`${p}.self_attn.q_norm.weight`), T * Hq, D, c.rmsNormEps) : q; // Qwen3: per head
    const kn = c.qkNorm ? rmsnorm(k, get(`${p}.self_attn.k_norm.weight`), T * Hkv, D, c.rmsNormEps) : k;
    rope(qn, T, Hq, D, c);
    rope(kn, T, Hkv, D, c);
    const att = attention(qn, kn, v, T, Hq, Hkv, D); // (T, Hq, D)
    const o = linear(att, get(`${p}.self_attn.o_proj.weight`), bias("o_proj"), T, Hq * D, C);
    for (let i = 0; i < h.length; i++) h[i]! += o[i]!;
    const x2 = rmsnorm(h, get(`${p}.post_attention_layernorm.weight`), T, C, c.rmsNormEps);
    const F = c.intermediateSize;
    const gate = linear(x2, get(`${p}.mlp.gate_proj.weight`), null, T, C, F);
    const up = linear(x2, get(`${p}.mlp.up_proj.weight`), null, T, C, F);
    for (let i = 0; i < gate.length; i++) gate[i] = (gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
    const down = linear(gate, get(`${p}.mlp.down_proj.weight`), null, T, F, C);
    for (let i = 0; i < h.length; i++) h[i]! += down[i]!;
  }
  h = rmsnorm(h, get("model.norm.weight"), T, C, c.rmsNormEps);
  const head = c.tieWordEmbeddings ? embed : get("lm_head.weight");
  return linear(h, head, null, T, C, c.vocabSize);
}

/** logprobs[i] = log p(ids[i+1] | ids[..i]) and the entropy of that distribution, i < T-1. */
export function referenceLogprobs(c: ModelConfig, w: TensorMap, ids: readonly number[]): { logprobs: number[]; entropies: number[] } {
  const logits = referenceLogits(c, w, ids);
  const V = c.vocabSize;
  const logprobs: number[] = [];
  const entropies: number[] = [];
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let max = -Infinity;
    for (const z of row) max = Math.max(max, z);
    let sum = 0;
    for (const z of row) sum += Math.exp(z - max);
    const lse = max + Math.log(sum);
    let H = 0;
    for (const z of row) { const lp = z - lse; H -= Math.exp(lp) * lp; }
    logprobs.push(row[ids[t + 1]!]! - lse);
    entropies.push(H);
  }
  return { logprobs, entropies };
}

/** HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight, per row. */
function rmsnorm(x: Float64Array, weight: Float32Array, N: number, C: number, eps: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let i = 0; i < C; i++) ss += x[n * C + i]! ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let i = 0; i < C; i++) out[n * C + i] = x[n * C + i]! * r * weight[i]!;
  }
  return out;
}

/** nn.Linear: out (N, O) = x (N, I) @ W^T + b, W stored (O, I). */
function linear(x: Float64Array, W: Float32Array, b: Float32Array | null, N: number, I: number, O: number): Float64Array {
  const out = new Float64Array(N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i]! * W[o * I + i]!;
      out[n * O + o] = s;
    }
  }
  return out;
}

/** Rotary embedding, HF rotate_half convention, in place on x (T, H, D) at positions 0..T-1. */
function rope(x: Float64Array, T: number, H: number, D: number, c: ModelConfig): void {
  const half = D / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      // HF computes inv_freq and position * inv_freq in fp32; mirror that rounding.
      const invFreq = Math.fround(llama3Scaled(Math.fround(1 / Math.fround(c.ropeTheta ** ((2 * i) / D))), c));
      const angle = Math.fround(t * invFreq);
      const cos = Math.cos(angle), sin = Math.sin(angle);
      for (let h = 0; h < H; h++) {
        const base = (t * H + h) * D;
        const a = x[base + i]!, b = x[base + i + half]!;
        x[base + i] = a * cos - b * sin;
        x[base + i + half] = b * cos + a * sin;
      }
    }
  }
}

/**
 * Llama 3 rope scaling of one inverse frequency (float64; HF's _compute_llama3_parameters):
 * long wavelengths slowed by `factor`, short ones kept, the band between interpolated.
 */
function llama3Scaled(invFreq: number, c: ModelConfig): number {
  const r = c.ropeScaling;
  if (!r) return invFreq;
  const wavelen = (2 * Math.PI) / invFreq;
  if (wavelen < r.originalMaxPositions / r.highFreqFactor) return invFreq;
  if (wavelen > r.originalMaxPositions / r.lowFreqFactor) return invFreq / r.factor;
  const s = (r.originalMaxPositions / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
  return ((1 - s) * invFreq) / r.factor + s * invFreq;
}

/** Causal softmax attention with grouped-query heads (query head h reads kv head h / (Hq/Hkv)). */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, Hq: number, Hkv: number, D: number): Float64Array {
  const out = new Float64Array(T * Hq * D);
  const group = Hq / Hkv, scale = 1 / Math.sqrt(D);
  const scores = new Float64Array(T);
  for (let h = 0; h < Hq; h++) {
    const kh = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(t * Hq + h) * D + d]! * k[(s * Hkv + kh) * D + d]!;
        scores[s] = dot * scale;
        max = Math.max(max, scores[s]!);
      }
      let sum = 0;
      for (let s = 0; s <= t; s++) { scores[s] = Math.exp(scores[s]! - max); sum += scores[s]!; }
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) acc += scores[s]! * v[(s * Hkv + kh) * D + d]!;
        out[(t * Hq + h) * D + d] = acc / sum;
      }
    }
  }
  return out;
}
