// Incremental decoding with a KV cache: the same layers as transformer.ts, forward only,
// for Tq new tokens per row at per-row positions. Keys and values of every processed token
// stay in the cache, so each new token costs one row of work per layer. Used by the
// sampler (prefill the prompt, then one token per step) and by attribution (score a
// continuation after a prefix already in the cache).
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { swigluForward } from "../ops/activations.js";
import { appendKV, attentionDecode } from "../ops/attention-decode.js";
import { embeddingForward } from "../ops/embedding.js";
import { matmul } from "../ops/matmul.js";
import { accumulate } from "../ops/residual.js";
import { rmsnormForward } from "../ops/rmsnorm.js";
import { ropeForward } from "../ops/rope.js";
import type { Transformer } from "./transformer.js";

/** Keys and values of every layer for B rows of up to Tmax positions. */
export class KVCache {
  readonly k: Tensor[]; // per layer (B, Hkv, Tmax, D)
  readonly v: Tensor[]; // per layer (B, Hkv, Tmax, D)

  constructor(
    private readonly gpu: Gpu,
    readonly model: Transformer,
    readonly B: number,
    readonly Tmax: number,
  ) {
    const c = model.config;
    if (Tmax > c.maxPositions) throw new Error(`KV cache of ${Tmax} positions exceeds max_position_embeddings ${c.maxPositions}`);
    const shape = [B, c.numKvHeads, Tmax, c.headDim];
    this.k = Array.from({ length: c.numLayers }, (_, l) => gpu.empty(shape, `kcache L${l}`));
    this.v = Array.from({ length: c.numLayers }, (_, l) => gpu.empty(shape, `vcache L${l}`));
  }

  /** Copy rows of another cache (same model and Tmax): this row i <- other row rows[i]. */
  copyRowsFrom(other: KVCache, rows: readonly number[]): void {
    const c = this.model.config;
    const rowSize = c.numKvHeads * this.Tmax * c.headDim;
    for (let l = 0; l < c.numLayers; l++) {
      rows.forEach((src, dst) => {
        this.gpu.copy(this.k[l]!, other.k[l]!, rowSize, src * rowSize, dst * rowSize);
        this.gpu.copy(this.v[l]!, other.v[l]!, rowSize, src * rowSize, dst * rowSize);
      });
    }
  }

  release(): void {
    this.gpu.release(...this.k, ...this.v);
  }
}

interface Work {
  x: Tensor; // (B*Tq, C) residual stream
  ln: Tensor; // (B*Tq, C)
  rstd: Tensor; // (B*Tq)
  q: Tensor; // (B*Tq, Hq*D)
  k: Tensor; // (B*Tq, Hkv*D)
  v: Tensor; // (B*Tq, Hkv*D)
  att: Tensor; // (B*Tq, Hq*D)
  gate: Tensor; // (B*Tq, F)
  up: Tensor; // (B*Tq, F)
  mlp: Tensor; // (B*Tq, F)
  tmp: Tensor; // (B*Tq, C)
  tmp2: Tensor; // (B*Tq, Hkv*D) Qwen3: k before k_norm
  rstdH: Tensor | null; // (B*Tq*Hq) Qwen3: per-head 1/rms (not needed after)
  last: Tensor; // (B, C) gathered rows
  lastLn: Tensor; // (B, C)
  lastRstd: Tensor; // (B)
  logits: Tensor | null; // (B, V), or (B*Tq, V) when every row is kept; only `step` allocates it
}

export class Decoder {
  private work = new Map<string, Work>();

  constructor(
    private readonly gpu: Gpu,
    readonly model: Transformer,
  ) {}

  /**
   * Run Tq new tokens per row through the model, appending their keys/values to `cache`.
   * ids, pos: (B*Tq) u32, row-major; start: (B) u32, the position of each row's first new token
   * (pos[b, i] must equal start[b] + i). With `lastRows` ((B) u32 flat indices into B*Tq),
   * logits are computed only for those rows and returned as (B, V); otherwise (B*Tq, V).
   * This holds every row's logits at once: large vocabularies use `stepHidden` and lm-head.ts.
   */
  step(cache: KVCache, ids: Tensor, pos: Tensor, start: Tensor, Tq: number, lastRows: Tensor | null = null): Tensor {
    const hidden = this.stepHidden(cache, ids, pos, start, Tq, lastRows);
    const w = this.workFor(cache.B, Tq, lastRows !== null);
    w.logits ??= this.gpu.empty([lastRows ? cache.B : cache.B * Tq, this.model.config.vocabSize], "dec logits");
    this.model.headForward(w.logits, hidden, lastRows ? cache.B : cache.B * Tq);
    return w.logits;
  }

  /**
   * As `step`, but returns the final-norm hidden states the LM head multiplies: (B, C) with
   * `lastRows`, else (B*Tq, C). Valid until the next call with the same (B, Tq, lastRows).
   */
  stepHidden(cache: KVCache, ids: Tensor, pos: Tensor, start: Tensor, Tq: number, lastRows: Tensor | null = null): Tensor {
    const gpu = this.gpu, m = this.model, c = m.config, B = cache.B;
    const N = B * Tq, C = c.hiddenSize, D = c.headDim, Hq = c.numHeads, Hkv = c.numKvHeads, F = c.intermediateSize, V = c.vocabSize;
    const w = this.workFor(B, Tq, lastRows !== null);
    const W = (name: string) => m.weights.get(name);
    const linear = (out: Tensor, x: Tensor, prefix: string, rows: number, I: number, O: number) =>
      matmul(gpu, out, x, W(`${prefix}.weight`), { M: rows, N: O, K: I, transB: true, bias: m.weights.has(`${prefix}.bias`) ? W(`${prefix}.bias`) : null });
    embeddingForward(gpu, w.x, W("model.embed_tokens.weight"), ids, { N, C, V });
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      rmsnormForward(gpu, w.ln, w.rstd, w.x, W(`${p}.input_layernorm.weight`), { N, C, eps: c.rmsNormEps });
      if (c.qkNorm) {
        // Qwen3: per-head RMSNorm of q and k before RoPE (att and tmp are free until attention).
        linear(w.att, w.ln, `${p}.self_attn.q_proj`, N, C, Hq * D);
        linear(w.tmp2, w.ln, `${p}.self_attn.k_proj`, N, C, Hkv * D);
        rmsnormForward(gpu, w.q, w.rstdH!, w.att, W(`${p}.self_attn.q_norm.weight`), { N: N * Hq, C: D, eps: c.rmsNormEps });
        rmsnormForward(gpu, w.k, w.rstdH!, w.tmp2, W(`${p}.self_attn.k_norm.weight`), { N: N * Hkv, C: D, eps: c.rmsNormEps });
      } else {
        linear(w.q, w.ln, `${p}.self_attn.q_proj`, N, C, Hq * D);
        linear(w.k, w.ln, `${p}.self_attn.k_proj`, N, C, Hkv * D);
      }
      linear(w.v, w.ln, `${p}.self_attn.v_proj`, N, C, Hkv * D);
      ropeForward(gpu, w.q, w.q, pos, m.rope, { B, T: Tq, H: Hq, D });
      ropeForward(gpu, w.k, w.k, pos, m.rope, { B, T: Tq, H: Hkv, D });
      appendKV(gpu, cache.k[l]!, cache.v[l]!, w.k, w.v, start, { B, Tq, Hkv, D, Tmax: cache.Tmax });
      attentionDecode(gpu, w.att, w.q, cache.k[l]!, cache.v[l]!, start, { B, Tq, Hq, Hkv, D, Tmax: cache.Tmax });
      linear(w.tmp, w.att, `${p}.self_attn.o_proj`, N, Hq * D, C);
      accumulate(gpu, w.x, w.tmp);
      rmsnormForward(gpu, w.ln, w.rstd, w.x, W(`${p}.post_attention_layernorm.weight`), { N, C, eps: c.rmsNormEps });
      linear(w.gate, w.ln, `${p}.mlp.gate_proj`, N, C, F);
      linear(w.up, w.ln, `${p}.mlp.up_proj`, N, C, F);
      swigluForward(gpu, w.mlp, w.gate, w.up);
      linear(w.tmp, w.mlp, `${p}.mlp.down_proj`, N, F, C);
      accumulate(gpu, w.x, w.tmp);
    }
    if (lastRows) {
      // Gather one row per sequence (an embedding lookup whose table is the residual stream).
      embeddingForward(gpu, w.last, w.x, lastRows, { N: B, C, V: N });
      rmsnormForward(gpu, w.lastLn, w.lastRstd, w.last, W("model.norm.weight"), { N: B, C, eps: c.rmsNormEps });
      return w.lastLn;
    }
    rmsnormForward(gpu, w.ln, w.rstd, w.x, W("model.norm.weight"), { N, C, eps: c.rmsNormEps });
    return w.ln;
  }

  private workFor(B: number, Tq: number, gather: boolean): Work {
    const key = `${B}x${Tq}:${gather}`;
    const hit = this.work.get(key);
    if (hit) return hit;
    const c = this.model.config, N = B * Tq, e = (shape: number[], label: string) => this.gpu.empty(shape, label);
    const w: Work = {
      x: e([N, c.hiddenSize], "dec x"), ln: e([N, c.hiddenSize], "dec ln"), rstd: e([N], "dec rstd"),
      q: e([N, c.numHeads * c.headDim], "dec q"), k: e([N, c.numKvHeads * c.headDim], "dec k"), v: e([N, c.numKvHeads * c.headDim], "dec v"),
      att: e([N, c.numHeads * c.headDim], "dec att"), gate: e([N, c.intermediateSize], "dec gate"), up: e([N, c.intermediateSize], "dec up"),
      mlp: e([N, c.intermediateSize], "dec mlp"), tmp: e([N, c.hiddenSize], "dec tmp"),
      tmp2: e([N, c.numKvHeads * c.headDim], "dec tmp2"), rstdH: c.qkNorm ? e([N * c.numHeads], "dec rstd heads") : null,
      last: e([B, c.hiddenSize], "dec last"), lastLn: e([B, c.hiddenSize], "dec lastLn"), lastRstd: e([B], "dec lastRstd"),
      logits: null,
    };
    this.work.set(key, w);
    return w;
  }

  release(): void {
    for (const w of this.work.values()) this.gpu.release(...Object.values(w));
    this.work.clear();
  }
}
