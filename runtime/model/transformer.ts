// The policy: LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM forward and backward on the GPU, written
// llm.c-style as a sequence of kernel calls over explicit activation buffers. Forward keeps
// exactly what backward reads; backward is forward read in reverse with mirrored names.
// Batches are (B, T) token ids with per-token positions, so right-padded rows work.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { attentionBackward, attentionForward } from "../ops/attention.js";
import { swigluBackward, swigluForward } from "../ops/activations.js";
import { embeddingBackward, embeddingForward } from "../ops/embedding.js";
import { matmul } from "../ops/matmul.js";
import { sumRows } from "../ops/matmul/sum-rows.js";
import { transposeAccumulate } from "../ops/transpose.js";
import { accumulate, residualForward } from "../ops/residual.js";
import { rmsnormBackward, rmsnormForward } from "../ops/rmsnorm.js";
import { type RopeTables, createRopeTables, ropeBackward, ropeForward } from "../ops/rope.js";
import type { ModelConfig } from "./config.js";
import type { GpuWeights } from "./weights.js";

/** Activations of one layer for one (B, T) batch; N = B * T. */
interface LayerActs {
  resid: Tensor; // (N, C) residual stream entering the layer
  ln1: Tensor; // (N, C)
  rstd1: Tensor; // (N)
  q: Tensor; // (N, Hq*D) after rotary embedding
  k: Tensor; // (N, Hkv*D) after rotary embedding
  qk: QkNormActs | null; // Qwen3 only
  v: Tensor; // (N, Hkv*D)
  att: Tensor; // (B, Hq, T, T) attention probabilities
  attOut: Tensor; // (N, Hq*D)
  resid2: Tensor; // (N, C) residual stream after attention
  ln2: Tensor; // (N, C)
  rstd2: Tensor; // (N)
  gate: Tensor; // (N, F)
  up: Tensor; // (N, F)
  mlp: Tensor; // (N, F) silu(gate) * up
}

/** Qwen3: q and k before their per-head RMSNorm, and its 1/rms per (token, head). */
interface QkNormActs {
  qPre: Tensor; // (N, Hq*D)
  kPre: Tensor; // (N, Hkv*D)
  rstdQ: Tensor; // (N*Hq)
  rstdK: Tensor; // (N*Hkv)
}

interface Acts {
  B: number;
  T: number;
  ids: Tensor; // (N) u32
  pos: Tensor; // (N) u32
  layers: LayerActs[];
  residF: Tensor; // (N, C) residual stream after the last layer
  lnF: Tensor; // (N, C)
  rstdF: Tensor; // (N)
  logits: Tensor | null; // (N, V), allocated only by `forward` (the chunked head never needs it)
}

/** Scratch for backward, shaped like one layer's activations. */
interface Grads {
  dresid: Tensor; // (N, C) gradient of the residual stream
  dln: Tensor; // (N, C)
  dtmp: Tensor; // (N, C)
  dmlp: Tensor; // (N, F)
  dgate: Tensor; // (N, F)
  dup: Tensor; // (N, F)
  dattOut: Tensor; // (N, Hq*D)
  dq: Tensor; // (N, Hq*D)
  dk: Tensor; // (N, Hkv*D)
  dv: Tensor; // (N, Hkv*D)
  datt: Tensor; // (B, Hq, T, T)
  dlnF: Tensor; // (N, C)
  dqPre: Tensor | null; // (N, Hq*D) Qwen3: gradient before q_norm
  dkPre: Tensor | null; // (N, Hkv*D)
}

export class Transformer {
  readonly config: ModelConfig;
  readonly rope: RopeTables;
  private acts: Acts | null = null;
  private grads: Grads | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly weights: GpuWeights,
  ) {
    this.config = weights.config;
    this.rope = createRopeTables(gpu, { maxPos: this.config.maxPositions, D: this.config.headDim, theta: this.config.ropeTheta, scaling: this.config.ropeScaling });
  }

  private w(name: string): Tensor {
    return this.weights.get(name);
  }

  private wOpt(name: string): Tensor | null {
    return this.weights.has(name) ? this.weights.get(name) : null;
  }

  private get headName(): string {
    return this.config.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  }

  /**
   * Logits (B*T, V) for token ids (B*T) at positions (B*T). The returned tensor and the
   * activations stay valid until the next forward with a different (B, T). This holds the
   * whole (N, V) matrix: large vocabularies go through `forwardHidden` and lm-head.ts instead.
   */
  forward(ids: Tensor, pos: Tensor, B: number, T: number): Tensor {
    const lnF = this.forwardHidden(ids, pos, B, T);
    const a = this.acts!;
    a.logits ??= this.gpu.empty([B * T, this.config.vocabSize], "logits");
    this.headForward(a.logits, lnF, B * T);
    return a.logits;
  }

  /**
   * The final-norm hidden states (B*T, C) that the LM head multiplies: the forward up to,
   * not including, the logits. Valid until the next forward with a different (B, T).
   */
  forwardHidden(ids: Tensor, pos: Tensor, B: number, T: number): Tensor {
    const c = this.config, gpu = this.gpu;
    const N = B * T, C = c.hiddenSize, D = c.headDim, Hq = c.numHeads, Hkv = c.numKvHeads, F = c.intermediateSize;
    const a = this.activations(B, T);
    gpu.copy(a.ids, ids, N);
    gpu.copy(a.pos, pos, N);
    embeddingForward(gpu, a.layers[0]!.resid, this.w("model.embed_tokens.weight"), a.ids, { N, C, V: c.vocabSize });
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`, L = a.layers[l]!;
      rmsnormForward(gpu, L.ln1, L.rstd1, L.resid, this.w(`${p}.input_layernorm.weight`), { N, C, eps: c.rmsNormEps });
      if (L.qk) {
        // Qwen3: RMSNorm over each head's q and k (weight (D)), then RoPE.
        this.linear(L.qk.qPre, L.ln1, `${p}.self_attn.q_proj`, N, C, Hq * D);
        this.linear(L.qk.kPre, L.ln1, `${p}.self_attn.k_proj`, N, C, Hkv * D);
        rmsnormForward(gpu, L.q, L.qk.rstdQ, L.qk.qPre, this.w(`${p}.self_attn.q_norm.weight`), { N: N * Hq, C: D, eps: c.rmsNormEps });
        rmsnormForward(gpu, L.k, L.qk.rstdK, L.qk.kPre, this.w(`${p}.self_attn.k_norm.weight`), { N: N * Hkv, C: D, eps: c.rmsNormEps });
      } else {
        this.linear(L.q, L.ln1, `${p}.self_attn.q_proj`, N, C, Hq * D);
        this.linear(L.k, L.ln1, `${p}.self_attn.k_proj`, N, C, Hkv * D);
      }
      this.linear(L.v, L.ln1, `${p}.self_attn.v_proj`, N, C, Hkv * D);
      ropeForward(gpu, L.q, L.q, a.pos, this.rope, { B, T, H: Hq, D });
      ropeForward(gpu, L.k, L.k, a.pos, this.rope, { B, T, H: Hkv, D });
      attentionForward(gpu, L.attOut, L.att, L.q, L.k, L.v, { B, T, Hq, Hkv, D });
      const o = L.resid2; // o_proj output lands in resid2, then the residual is added in place
      this.linear(o, L.attOut, `${p}.self_attn.o_proj`, N, Hq * D, C);
      accumulate(gpu, L.resid2, L.resid);
      rmsnormForward(gpu, L.ln2, L.rstd2, L.resid2, this.w(`${p}.post_attention_layernorm.weight`), { N, C, eps: c.rmsNormEps });
      this.linear(L.gate, L.ln2, `${p}.mlp.gate_proj`, N, C, F);
      this.linear(L.up, L.ln2, `${p}.mlp.up_proj`, N, C, F);
      swigluForward(gpu, L.mlp, L.gate, L.up);
      const next = l + 1 < c.numLayers ? a.layers[l + 1]!.resid : a.residF;
      this.linear(next, L.mlp, `${p}.mlp.down_proj`, N, F, C);
      accumulate(gpu, next, L.resid2);
    }
    rmsnormForward(gpu, a.lnF, a.rstdF, a.residF, this.w("model.norm.weight"), { N, C, eps: c.rmsNormEps });
    return a.lnF;
  }

  /** logits (rows, V) = x (rows, C) @ W_head^T (+ bias): the LM head on `rows` hidden rows. */
  headForward(logits: Tensor, x: Tensor, rows: number): void {
    this.linear(logits, x, this.headPrefix, rows, this.config.hiddenSize, this.config.vocabSize);
  }

  /**
   * Backward of `headForward` for `rows` rows: dx (rows, C) = dlogits @ W_head (added to dx
   * when `addDx`), and dW_head (and its bias) accumulated into weights.grads.
   */
  headBackward(dx: Tensor, addDx: boolean, dlogits: Tensor, x: Tensor, rows: number): void {
    this.linearBackward(dx, addDx, dlogits, x, this.headPrefix, rows, this.config.hiddenSize, this.config.vocabSize);
  }

  /**
   * Backward of `headForward` with the weight gradient summed transposed: dx (rows, C) =
   * dlogits @ W_head, dWT (C, V) += x^T @ dlogits (reads dlogits row by row: the fast layout
   * for a wide head), bias gradient into weights.grads. `addHeadGradT` adds dWT once.
   */
  headBackwardT(dx: Tensor, dlogits: Tensor, x: Tensor, rows: number, dWT: Tensor): void {
    const C = this.config.hiddenSize, V = this.config.vocabSize, p = this.headPrefix;
    matmul(this.gpu, dx, dlogits, this.w(`${p}.weight`), { M: rows, N: C, K: V });
    matmul(this.gpu, dWT, x, dlogits, { M: C, N: V, K: rows, transA: true, beta: 1 });
    if (this.weights.has(`${p}.bias`)) sumRows(this.gpu, this.weights.grad(`${p}.bias`), dlogits, { M: rows, N: V, accumulate: true });
  }

  /** weights.grads[head] (V, C) += dWT (C, V) transposed. */
  addHeadGradT(dWT: Tensor): void {
    transposeAccumulate(this.gpu, this.weights.grad(`${this.headPrefix}.weight`), dWT, this.config.hiddenSize, this.config.vocabSize);
  }

  private get headPrefix(): string {
    return this.headName.replace(/\.weight$/, "");
  }

  /** Scratch (N, C) for the gradient of the final-norm hidden states, for `backwardHidden`. */
  hiddenGrad(): Tensor {
    if (!this.acts) throw new Error("Transformer.hiddenGrad called before forward");
    return this.scratch().dlnF;
  }

  /**
   * Add the gradients of the loss whose gradient with respect to the last forward's logits
   * is `dlogits` (B*T, V) into weights.grads (call weights.zeroGrads() between updates).
   */
  backward(dlogits: Tensor): void {
    const a = this.acts;
    if (!a) throw new Error("Transformer.backward called before forward");
    const g = this.scratch();
    this.headBackward(g.dlnF, false, dlogits, a.lnF, a.B * a.T);
    this.backwardHidden(g.dlnF);
  }

  /**
   * Add the gradients of a loss whose gradient with respect to the last forward's final-norm
   * hidden states is `dlnF` (B*T, C) into weights.grads (the LM head's own gradient is the
   * caller's: headBackward).
   */
  backwardHidden(dlnF: Tensor): void {
    const a = this.acts;
    if (!a) throw new Error("Transformer.backwardHidden called before forward");
    const c = this.config, gpu = this.gpu, g = this.scratch();
    const { B, T } = a;
    const N = B * T, C = c.hiddenSize, D = c.headDim, Hq = c.numHeads, Hkv = c.numKvHeads, F = c.intermediateSize;
    const grad = (name: string) => this.weights.grad(name);
    rmsnormBackward(gpu, g.dresid, grad("model.norm.weight"), dlnF, a.residF, this.w("model.norm.weight"), a.rstdF, { N, C, accumulate: true });
    for (let l = c.numLayers - 1; l >= 0; l--) {
      const p = `model.layers.${l}`, L = a.layers[l]!;
      // MLP: resid_next = resid2 + down(silu(gate(ln2)) * up(ln2)); dresid flows to resid2 unchanged.
      this.linearBackward(g.dmlp, false, g.dresid, L.mlp, `${p}.mlp.down_proj`, N, F, C);
      swigluBackward(gpu, g.dgate, g.dup, g.dmlp, L.gate, L.up);
      this.linearBackward(g.dln, false, g.dgate, L.ln2, `${p}.mlp.gate_proj`, N, C, F);
      this.linearBackward(g.dln, true, g.dup, L.ln2, `${p}.mlp.up_proj`, N, C, F);
      rmsnormBackward(gpu, g.dtmp, grad(`${p}.post_attention_layernorm.weight`), g.dln, L.resid2, this.w(`${p}.post_attention_layernorm.weight`), L.rstd2, { N, C, accumulate: true });
      accumulate(gpu, g.dresid, g.dtmp);
      // Attention: resid2 = resid + o_proj(attention(rope(q), rope(k), v)).
      this.linearBackward(g.dattOut, false, g.dresid, L.attOut, `${p}.self_attn.o_proj`, N, Hq * D, C);
      attentionBackward(gpu, g.dq, g.dk, g.dv, g.datt, g.dattOut, L.q, L.k, L.v, L.att, { B, T, Hq, Hkv, D });
      ropeBackward(gpu, g.dq, g.dq, a.pos, this.rope, { B, T, H: Hq, D });
      ropeBackward(gpu, g.dk, g.dk, a.pos, this.rope, { B, T, H: Hkv, D });
      let dq = g.dq, dk = g.dk;
      if (L.qk) {
        rmsnormBackward(gpu, g.dqPre!, grad(`${p}.self_attn.q_norm.weight`), g.dq, L.qk.qPre, this.w(`${p}.self_attn.q_norm.weight`), L.qk.rstdQ, { N: N * Hq, C: D, accumulate: true });
        rmsnormBackward(gpu, g.dkPre!, grad(`${p}.self_attn.k_norm.weight`), g.dk, L.qk.kPre, this.w(`${p}.self_attn.k_norm.weight`), L.qk.rstdK, { N: N * Hkv, C: D, accumulate: true });
        dq = g.dqPre!;
        dk = g.dkPre!;
      }
      this.linearBackward(g.dln, false, dq, L.ln1, `${p}.self_attn.q_proj`, N, C, Hq * D);
      this.linearBackward(g.dln, true, dk, L.ln1, `${p}.self_attn.k_proj`, N, C, Hkv * D);
      this.linearBackward(g.dln, true, g.dv, L.ln1, `${p}.self_attn.v_proj`, N, C, Hkv * D);
      rmsnormBackward(gpu, g.dtmp, grad(`${p}.input_layernorm.weight`), g.dln, L.resid, this.w(`${p}.input_layernorm.weight`), L.rstd1, { N, C, accumulate: true });
      accumulate(gpu, g.dresid, g.dtmp);
    }
    embeddingBackward(gpu, grad("model.embed_tokens.weight"), g.dresid, a.ids, { N, C, V: c.vocabSize, accumulate: true });
  }

  /** out (N, O) = x (N, I) @ W^T + b for the HF module `prefix` (prefix.weight, prefix.bias). */
  private linear(out: Tensor, x: Tensor, prefix: string, N: number, I: number, O: number): void {
    matmul(this.gpu, out, x, this.w(`${prefix}.weight`), { M: N, N: O, K: I, transB: true, bias: this.wOpt(`${prefix}.bias`) });
  }

  /**
   * Backward of `linear`: dx (N, I) = dout @ W (added to dx when `addDx`), and the weight
   * and bias gradients added into weights.grads.
   */
  private linearBackward(dx: Tensor, addDx: boolean, dout: Tensor, x: Tensor, prefix: string, N: number, I: number, O: number): void {
    const W = this.w(`${prefix}.weight`);
    matmul(this.gpu, dx, dout, W, { M: N, N: I, K: O, beta: addDx ? 1 : 0 });
    matmul(this.gpu, this.weights.grad(`${prefix}.weight`), dout, x, { M: O, N: I, K: N, transA: true, beta: 1 });
    if (this.weights.has(`${prefix}.bias`)) sumRows(this.gpu, this.weights.grad(`${prefix}.bias`), dout, { M: N, N: O, accumulate: true });
  }

  private activations(B: number, T: number): Acts {
    if (this.acts && this.acts.B === B && this.acts.T === T) return this.acts;
    this.releaseActivations();
    const c = this.config, gpu = this.gpu;
    const N = B * T, C = c.hiddenSize, D = c.headDim, Hq = c.numHeads, Hkv = c.numKvHeads, F = c.intermediateSize;
    const e = (shape: number[], label: string) => gpu.empty(shape, label);
    const layers: LayerActs[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      layers.push({
        resid: e([N, C], `L${l}.resid`), ln1: e([N, C], `L${l}.ln1`), rstd1: e([N], `L${l}.rstd1`),
        q: e([N, Hq * D], `L${l}.q`), k: e([N, Hkv * D], `L${l}.k`), v: e([N, Hkv * D], `L${l}.v`),
        qk: c.qkNorm ? { qPre: e([N, Hq * D], `L${l}.qPre`), kPre: e([N, Hkv * D], `L${l}.kPre`), rstdQ: e([N * Hq], `L${l}.rstdQ`), rstdK: e([N * Hkv], `L${l}.rstdK`) } : null,
        att: e([B, Hq, T, T], `L${l}.att`), attOut: e([N, Hq * D], `L${l}.attOut`),
        resid2: e([N, C], `L${l}.resid2`), ln2: e([N, C], `L${l}.ln2`), rstd2: e([N], `L${l}.rstd2`),
        gate: e([N, F], `L${l}.gate`), up: e([N, F], `L${l}.up`), mlp: e([N, F], `L${l}.mlp`),
      });
    }
    this.acts = {
      B, T, layers,
      ids: gpu.empty([N], "ids", "u32"), pos: gpu.empty([N], "pos", "u32"),
      residF: e([N, C], "residF"), lnF: e([N, C], "lnF"), rstdF: e([N], "rstdF"), logits: null,
    };
    return this.acts;
  }

  private scratch(): Grads {
    const a = this.acts!;
    if (this.grads && this.grads.dresid.size === a.B * a.T * this.config.hiddenSize && this.grads.datt.size === a.B * this.config.numHeads * a.T * a.T) return this.grads;
    this.releaseScratch();
    const c = this.config, gpu = this.gpu, N = a.B * a.T;
    const e = (shape: number[], label: string) => gpu.empty(shape, label);
    this.grads = {
      dresid: e([N, c.hiddenSize], "dresid"), dln: e([N, c.hiddenSize], "dln"), dtmp: e([N, c.hiddenSize], "dtmp"),
      dmlp: e([N, c.intermediateSize], "dmlp"), dgate: e([N, c.intermediateSize], "dgate"), dup: e([N, c.intermediateSize], "dup"),
      dattOut: e([N, c.numHeads * c.headDim], "dattOut"), dq: e([N, c.numHeads * c.headDim], "dq"),
      dk: e([N, c.numKvHeads * c.headDim], "dk"), dv: e([N, c.numKvHeads * c.headDim], "dv"),
      datt: e([a.B, c.numHeads, a.T, a.T], "datt"), dlnF: e([N, c.hiddenSize], "dlnF"),
      dqPre: c.qkNorm ? e([N, c.numHeads * c.headDim], "dqPre") : null, dkPre: c.qkNorm ? e([N, c.numKvHeads * c.headDim], "dkPre") : null,
    };
    return this.grads;
  }

  private releaseActivations(): void {
    const a = this.acts;
    if (!a) return;
    for (const L of a.layers) {
      const { qk, ...rest } = L;
      this.gpu.release(...Object.values(rest), ...(qk ? Object.values(qk) : []));
    }
    this.gpu.release(a.ids, a.pos, a.residF, a.lnF, a.rstdF, a.logits);
    this.acts = null;
  }

  private releaseScratch(): void {
    if (this.grads) this.gpu.release(...Object.values(this.grads));
    this.grads = null;
  }

  /** Free activations and scratch (weights stay). */
  release(): void {
    this.releaseActivations();
    this.releaseScratch();
  }
}
