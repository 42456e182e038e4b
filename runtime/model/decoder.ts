// Incremental decoding with a KV cache: the same layers as transformer.ts, forward only,
// for Tq new tokens per row at per-row positions. Keys and values of every processed token
// stay in the cache, so each new token costs one row of work per layer. Used by the
// sampler (prefill the prompt, then one token per step) and by attribution (score a
// continuation after a prefix already in the cache).
//
// Dispatches per layer and token are what a decoding step costs on a CPU rasteriser (each
// one pays a fixed launch and barrier cost, and the matrices here are small), so the
// decoder fuses where it can: one QKV matmul against row-concatenated q/k/v weights, then
// one kernel for RoPE + cache append (decode-rope-append.ts); one gate+up matmul and a
// packed SwiGLU (decode-swiglu.ts); each residual add fused with the RMSNorm that follows
// it (decode-add-norm.ts). 9 dispatches per layer instead of 16. The concatenated weights
// are copied once per Decoder (a Decoder lives for one generate() or attribution call, so
// optimizer steps between calls are seen) and only while they fit PACK_BUDGET_BYTES.
// Every fused path computes the same floats in the same order as the unfused one.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { swigluForward } from "../ops/activations.js";
import { appendKV, attentionDecode } from "../ops/attention-decode.js";
import { decodeAddRmsnorm } from "../ops/decode-add-norm.js";
import { decodeRopeAppend } from "../ops/decode-rope-append.js";
import { decodeSwigluPacked } from "../ops/decode-swiglu.js";
import { embeddingForward } from "../ops/embedding.js";
import { matmul } from "../ops/matmul.js";
import { accumulate } from "../ops/residual.js";
import { rmsnormForward, rmsnormSchedule } from "../ops/rmsnorm.js";
import { ropeForward } from "../ops/rope.js";
import { PACK_BUDGET_BYTES, packedDecodeBytes } from "./memory.js";
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
  qkv: Tensor | null; // (B*Tq, (Hq + 2 Hkv) * D) packed projections, when packed
  gu: Tensor | null; // (B*Tq, 2F) packed gate | up, when packed
}

export interface DecoderOptions {
  /** Concatenate q/k/v and gate/up weights (default: when they fit PACK_BUDGET_BYTES). */
  pack?: boolean;
  /** Fuse each residual add with the next RMSNorm (default: where rmsnorm runs one row per lane). */
  fuseNorm?: boolean;
}

/** Per layer: [Wq; Wk; Wv] (QKV, C) and its bias, [Wgate; Wup] (2F, C). */
interface Packed {
  qkv: Tensor[];
  qkvBias: (Tensor | null)[];
  gu: Tensor[];
}

export class Decoder {
  private work = new Map<string, Work>();
  private packed: Packed | null = null;
  readonly packQkv: boolean;
  readonly packGu: boolean;
  readonly fuseNorm: boolean;

  constructor(
    private readonly gpu: Gpu,
    readonly model: Transformer,
    o: DecoderOptions = {},
  ) {
    const c = model.config, w = model.weights;
    const pack = o.pack ?? packedDecodeBytes(model.config) <= PACK_BUDGET_BYTES;
    const biases = (l: number, names: string[]) => names.map((n) => w.has(`model.layers.${l}.${n}.bias`));
    const uniform = (names: string[]) => Array.from({ length: c.numLayers }, (_, l) => biases(l, names)).every((b) => b.every((x) => x === b[0]));
    this.packQkv = pack && !c.qkNorm && uniform(["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]);
    this.packGu = pack && Array.from({ length: c.numLayers }, (_, l) => biases(l, ["mlp.gate_proj", "mlp.up_proj"])).every((b) => !b[0] && !b[1]);
    this.fuseNorm = o.fuseNorm ?? (c.hiddenSize % 4 === 0 && rmsnormSchedule(gpu, c.hiddenSize) === "lane");
    if (this.fuseNorm && c.hiddenSize % 4 !== 0) throw new Error(`Decoder: fuseNorm needs hidden_size a multiple of 4, got ${c.hiddenSize}`);
  }

  /** The concatenated weights, copied (recorded in order) on first use. */
  private packedWeights(): Packed {
    if (this.packed) return this.packed;
    const gpu = this.gpu, m = this.model, c = m.config, W = (n: string) => m.weights.get(n);
    const concat = (names: string[], label: string): Tensor => {
      const parts = names.map(W);
      const out = gpu.empty([parts.reduce((a, t) => a + t.size, 0)], label);
      let at = 0;
      for (const t of parts) { gpu.copy(out, t, t.size, 0, at); at += t.size; }
      return out;
    };
    const p: Packed = { qkv: [], qkvBias: [], gu: [] };
    for (let l = 0; l < c.numLayers; l++) {
      const a = `model.layers.${l}.self_attn`, f = `model.layers.${l}.mlp`;
      if (this.packQkv) {
        p.qkv.push(concat([`${a}.q_proj.weight`, `${a}.k_proj.weight`, `${a}.v_proj.weight`], `L${l} qkv weight`));
        p.qkvBias.push(m.weights.has(`${a}.q_proj.bias`) ? concat([`${a}.q_proj.bias`, `${a}.k_proj.bias`, `${a}.v_proj.bias`], `L${l} qkv bias`) : null);
      }
      if (this.packGu) p.gu.push(concat([`${f}.gate_proj.weight`, `${f}.up_proj.weight`], `L${l} gate|up weight`));
    }
    this.packed = p;
    return p;
  }

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
    const packed = this.packQkv || this.packGu ? this.packedWeights() : null;
    const QKV = (Hq + 2 * Hkv) * D;
    // x += t, then ln = rmsnorm(x) * weight: one fused kernel or the pair.
    const addNorm = (t: Tensor, weight: string) => {
      if (this.fuseNorm) decodeAddRmsnorm(gpu, w.x, w.ln, w.rstd, t, W(weight), { N, C, eps: c.rmsNormEps });
      else {
        accumulate(gpu, w.x, t);
        rmsnormForward(gpu, w.ln, w.rstd, w.x, W(weight), { N, C, eps: c.rmsNormEps });
      }
    };
    rmsnormForward(gpu, w.ln, w.rstd, w.x, W("model.layers.0.input_layernorm.weight"), { N, C, eps: c.rmsNormEps });
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      if (this.packQkv) {
        matmul(gpu, w.qkv!, w.ln, packed!.qkv[l]!, { M: N, N: QKV, K: C, transB: true, bias: packed!.qkvBias[l] ?? null });
        decodeRopeAppend(gpu, w.q, cache.k[l]!, cache.v[l]!, w.qkv!, pos, start, m.rope, { B, Tq, Hq, Hkv, D, Tmax: cache.Tmax });
      } else {
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
      }
      attentionDecode(gpu, w.att, w.q, cache.k[l]!, cache.v[l]!, start, { B, Tq, Hq, Hkv, D, Tmax: cache.Tmax });
      linear(w.tmp, w.att, `${p}.self_attn.o_proj`, N, Hq * D, C);
      addNorm(w.tmp, `${p}.post_attention_layernorm.weight`);
      if (this.packGu) {
        matmul(gpu, w.gu!, w.ln, packed!.gu[l]!, { M: N, N: 2 * F, K: C, transB: true });
        decodeSwigluPacked(gpu, w.mlp, w.gu!, { N, F });
      } else {
        linear(w.gate, w.ln, `${p}.mlp.gate_proj`, N, C, F);
        linear(w.up, w.ln, `${p}.mlp.up_proj`, N, C, F);
        swigluForward(gpu, w.mlp, w.gate, w.up);
      }
      linear(w.tmp, w.mlp, `${p}.mlp.down_proj`, N, F, C);
      if (l + 1 < c.numLayers) addNorm(w.tmp, `model.layers.${l + 1}.input_layernorm.weight`);
      else if (!lastRows) addNorm(w.tmp, "model.norm.weight");
      else accumulate(gpu, w.x, w.tmp);
    }
    if (lastRows) {
      // Gather one row per sequence (an embedding lookup whose table is the residual stream).
      embeddingForward(gpu, w.last, w.x, lastRows, { N: B, C, V: N });
      rmsnormForward(gpu, w.lastLn, w.lastRstd, w.last, W("model.norm.weight"), { N: B, C, eps: c.rmsNormEps });
      return w.lastLn;
    }
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
      qkv: this.packQkv ? e([N, (c.numHeads + 2 * c.numKvHeads) * c.headDim], "dec qkv") : null,
      gu: this.packGu ? e([N, 2 * c.intermediateSize], "dec gate|up") : null,
    };
    this.work.set(key, w);
    return w;
  }

  release(): void {
    for (const w of this.work.values()) this.gpu.release(...Object.values(w));
    this.work.clear();
    if (this.packed) this.gpu.release(...this.packed.qkv, ...this.packed.qkvBias, ...this.packed.gu);
    this.packed = null;
  }
}
