// The policy: LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM forward and backward on the GPU, written
// llm.c-style as a sequence of kernel calls over explicit activation buffers. A layer is
// layer-body.ts's list of sub-blocks: forward runs it in order, backward in reverse, one case
// per kind of sub-block each. Forward keeps exactly what backward reads.
// Batches are (B, T) token ids with per-token positions, so right-padded rows work. A batch
// whose rows share prompts can run in the shared-prefix layout instead (shared-rows.ts): every
// sub-block but attention on N packed tokens, each prompt once; attention in the whole-row
// layout through row maps (shared-attention.ts).
import type { Gpu } from "../gpu.js";
import { type Tensor, flatView, rowView } from "../tensor.js";
import { copyColumnBlock } from "../ops/column-block.js";
import { type AttentionMode, attentionBackwardIn, attentionForwardIn, attentionKeptShape, attentionMode, attentionScratchShape } from "../ops/attention-mode.js";
import { swigluBackward, swigluForward } from "../ops/activations.js";
import { embeddingBackward, embeddingForward } from "../ops/embedding.js";
import { matmul } from "../ops/matmul.js";
import { sumRows } from "../ops/matmul/sum-rows.js";
import { transposeAccumulate } from "../ops/transpose.js";
import { accumulate } from "../ops/residual.js";
import { rmsnormBackward, rmsnormForward } from "../ops/rmsnorm.js";
import { type RopeTables, createRopeTables, ropeBackward, ropeForward } from "../ops/rope.js";
import type { ModelConfig } from "./config.js";
import { EMBEDDING, FINAL_NORM, SLOT_WIDTH, type Slot, type SubBlock, layerBody, normRows, ownedSlots, widthOf } from "./layer-body.js";
import type { GpuWeights } from "./weights.js";
import { type FullRowsBackward, type FullRowsForward, fromFullRows, fullRowsWidths, hiddenToFull, sharedAttentionBackward, sharedAttentionForward } from "./shared-attention.js";
import type { SharedRows } from "./shared-rows.js";

/**
 * Activations of one layer for one batch of N tokens (B * T slots, or a shared-prefix layout's
 * packed tokens). One buffer per slot of the layer
 * body, except that a residual's branch is written straight into its output's buffer and
 * `out` is the next layer's `resid` (or residF): what backward reads, and nothing else.
 */
interface LayerActs {
  slot: Partial<Record<Slot, Tensor>>; // (N, width of the slot)
  rstd: Partial<Record<Slot, Tensor>>; // per norm, keyed by its output: 1/rms per row, (N) or (N * heads)
  attKept: Tensor; // what attention keeps for backward: (B, Hq, T, T) probabilities ("saved"), (B, Hq, T) log-sum-exp ("recompute")
  owned: Tensor[]; // the buffers allocated for this layer (what release frees)
}

interface Acts {
  B: number;
  T: number;
  /** Tokens the layers run on: B * T, or the shared layout's packed tokens. */
  N: number;
  /** The shared-prefix layout (null: whole rows) and its whole-row attention buffers. */
  shared: SharedRows | null;
  full: FullRowsForward | null;
  attention: AttentionMode; // ops/attention-mode.ts: chosen per (B, T) by the binding limit
  keep: boolean; // the last forward kept what backward reads (false: a no-grad forward, whose attention skipped P)
  ids: Tensor; // (N) u32
  pos: Tensor; // (N) u32
  layers: LayerActs[];
  residF: Tensor; // (N, C) residual stream after the last layer
  lnF: Tensor; // (N, C)
  rstdF: Tensor; // (N)
  hidden: Tensor; // (B*T, C) what forwardHidden returns: lnF itself for whole rows, lnF's rows per slot when shared
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
  attScratch: Tensor; // (B, Hq, T, T) datt ("saved"), (B, Hq, T) delta ("recompute")
  dlnF: Tensor; // (B*T, C) gradient of the returned hidden states
  dlnFPacked: Tensor | null; // (N, C) shared layout: dlnF summed onto the packed tokens
  full: FullRowsBackward | null; // shared layout: attention's whole-row gradients
  dqPre: Tensor | null; // (N, Hq*D) Qwen3: gradient before q_norm
  dkPre: Tensor | null; // (N, Hkv*D)
}

/**
 * The gradient buffer of each slot. The residual stream's slots share one: a residual's
 * output gradient is its stream's and its branch's as well, so it costs no dispatch.
 */
const GRAD_OF: Readonly<Record<Slot, Exclude<keyof Grads, "full">>> = {
  resid: "dresid", o: "dresid", resid2: "dresid", down: "dresid", out: "dresid",
  ln1: "dln", ln2: "dln", qPre: "dqPre", kPre: "dkPre", q: "dq", k: "dk", v: "dv",
  attOut: "dattOut", gate: "dgate", up: "dup", mlp: "dmlp",
};

/** A slot's buffer in one layer's activations (every slot of the body has one). */
function slotOf(L: LayerActs, s: Slot): Tensor {
  const t = L.slot[s];
  if (!t) throw new Error(`Transformer: layer activations have no slot '${s}'`);
  return t;
}

export class Transformer {
  readonly config: ModelConfig;
  readonly rope: RopeTables;
  /** Each layer's sub-blocks (layer-body.ts), in forward order. */
  readonly bodies: readonly SubBlock[][];
  private acts: Acts | null = null;
  private grads: Grads | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly weights: GpuWeights,
  ) {
    this.config = weights.config;
    this.rope = createRopeTables(gpu, { maxPos: this.config.maxPositions, D: this.config.headDim, theta: this.config.ropeTheta, scaling: this.config.ropeScaling });
    this.bodies = Array.from({ length: this.config.numLayers }, (_, l) => layerBody(this.config, l));
  }

  /** The number of values per token of a slot. */
  width(s: Slot): number {
    return widthOf(this.config, SLOT_WIDTH[s]);
  }

  private w(name: string): Tensor {
    return this.weights.get(name);
  }

  private wOpt(name: string): Tensor | null {
    return this.weights.has(name) ? this.weights.get(name) : null;
  }

  private get headName(): string {
    return this.config.tieWordEmbeddings ? EMBEDDING : "lm_head.weight";
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
   * not including, the logits. Valid until the next forward with a different (B, T). grad
   * false: no backward will follow (attention then skips saving its probabilities; the
   * hidden states have the same bits), and backwardHidden refuses to run on it.
   */
  forwardHidden(ids: Tensor, pos: Tensor, B: number, T: number, grad = true): Tensor {
    return this.forwardTokens(this.activations(B, T, null), ids, pos, grad);
  }

  /**
   * forwardHidden of the (B, T) rows that `rows` lays out (shared-rows.ts): each shared prompt
   * prefix runs through the layers once. The result (B*T, C) equals forwardHidden's at every
   * slot a row computes (its first rowSlots); it is 0 at the slots past them. Valid until the
   * next forward with another layout; backwardHidden then runs the same layout's backward
   * (grad as forwardHidden's).
   */
  forwardHiddenShared(rows: SharedRows, grad = true): Tensor {
    if (rows.N === 0) throw new Error("Transformer.forwardHiddenShared: the layout has no tokens");
    return this.forwardTokens(this.activations(rows.B, rows.T, rows), rows.ids, rows.pos, grad);
  }

  /** Embedding, the layers and the final norm on the N tokens of `a`; the hidden states per slot. */
  private forwardTokens(a: Acts, ids: Tensor, pos: Tensor, grad: boolean): Tensor {
    const c = this.config, gpu = this.gpu, N = a.N, C = c.hiddenSize;
    a.keep = grad;
    gpu.copy(a.ids, ids, N);
    gpu.copy(a.pos, pos, N);
    embeddingForward(gpu, slotOf(a.layers[0]!, "resid"), this.w(EMBEDDING), a.ids, { N, C, V: c.vocabSize });
    this.bodies.forEach((body, l) => { for (const b of body) this.forwardBlock(b, a.layers[l]!, a); });
    rmsnormForward(gpu, a.lnF, a.rstdF, a.residF, this.w(FINAL_NORM), { N, C, eps: c.rmsNormEps });
    if (a.shared) hiddenToFull(gpu, a.hidden, a.lnF, a.shared, C);
    return a.hidden;
  }

  /** One sub-block of a layer over the batch's N tokens (attention: over its (B, T) rows). */
  private forwardBlock(b: SubBlock, L: LayerActs, a: Acts): void {
    const gpu = this.gpu, c = this.config, { B, T, N } = a, D = c.headDim, t = (s: Slot) => slotOf(L, s);
    switch (b.kind) {
      case "norm":
      case "headNorm": {
        const { rows, cols } = this.normShape(b, N);
        rmsnormForward(gpu, t(b.out), this.rstdOf(L, b.out), t(b.x), this.w(b.weight), { N: rows, C: cols, eps: c.rmsNormEps });
        return;
      }
      case "project":
        for (const o of b.outs) this.linear(t(o.out), t(b.x), o.module, N, this.width(b.x), this.width(o.out));
        return;
      case "rope":
        for (const s of [b.q, b.k]) ropeForward(gpu, t(s), t(s), a.pos, this.rope, { B: 1, T: N, H: this.width(s) / D, D });
        return;
      case "attention": {
        const sizes = { B, T, Hq: c.numHeads, Hkv: c.numKvHeads, D };
        if (a.shared) sharedAttentionForward(gpu, a.attention, t(b.out), L.attKept, t(b.q), t(b.k), t(b.v), a.shared, a.full!, sizes, a.keep);
        else attentionForwardIn(gpu, a.attention, t(b.out), L.attKept, t(b.q), t(b.k), t(b.v), sizes, undefined, a.keep);
        return;
      }
      case "residual":
        // The branch was written into the output's buffer: add the stream in place.
        if (t(b.branch) !== t(b.out)) throw new Error(`Transformer: residual '${b.out}' expects its branch '${b.branch}' in its own buffer`);
        accumulate(gpu, t(b.out), t(b.stream));
        return;
      case "swiglu":
        swigluForward(gpu, t(b.out), t(b.gate), t(b.up));
        return;
    }
  }

  /** A norm's rows and row length: C per token, or D per head (rows = N * heads). */
  private normShape(b: SubBlock & { kind: "norm" | "headNorm" }, N: number): { rows: number; cols: number } {
    return { rows: normRows(this.config, b, N), cols: b.kind === "norm" ? this.config.hiddenSize : this.config.headDim };
  }

  private rstdOf(L: LayerActs, out: Slot): Tensor {
    const t = L.rstd[out];
    if (!t) throw new Error(`Transformer: no 1/rms buffer for the norm writing '${out}'`);
    return t;
  }

  /** logits (rows, V) = x (rows, C) @ W_head^T (+ bias): the LM head on `rows` hidden rows. */
  headForward(logits: Tensor, x: Tensor, rows: number): void {
    const C = this.config.hiddenSize, V = this.config.vocabSize, ranges = this.headRanges();
    if (ranges.length === 1) return this.linear(logits, x, this.headPrefix, rows, C, V);
    // A head larger than one binding: each vocabulary range's logits, then into their columns.
    const W = this.w(`${this.headPrefix}.weight`), bias = this.wOpt(`${this.headPrefix}.bias`);
    for (const { start, count } of ranges) {
      const part = this.gpu.empty([rows, count], "head range logits"); // (rows, Vr)
      matmul(this.gpu, part, x, rowView(W, start, count), { M: rows, N: count, K: C, transB: true, bias: bias ? flatView(bias, start, count) : null });
      copyColumnBlock(this.gpu, logits, { stride: V, col0: start }, part, { stride: count, col0: 0 }, rows, count);
      this.gpu.release(part); // later users of the pooled buffer are recorded after this copy
    }
  }

  /**
   * Vocabulary row ranges of the head weight that each fit one storage binding: one range
   * [0, V) when the weight (f32 master, its gradient, an f16 copy, the bias) binds whole, as
   * it does below 128 MiB on lavapipe; a 151,936 x 896 head (544 MiB) takes 5.
   */
  headRanges(): { start: number; count: number }[] {
    const C = this.config.hiddenSize, V = this.config.vocabSize;
    this.headRangeMemo ??= this.gpu.bindingRanges(V, [4 * C, 2 * C, 4], `LM head '${this.headPrefix}.weight' (${V} x ${C})`);
    return this.headRangeMemo;
  }
  private headRangeMemo: { start: number; count: number }[] | null = null;

  /**
   * Backward of `headForward` for `rows` rows: dx (rows, C) = dlogits @ W_head (added to dx
   * when `addDx`), and dW_head (and its bias) accumulated into weights.grads.
   */
  headBackward(dx: Tensor, addDx: boolean, dlogits: Tensor, x: Tensor, rows: number): void {
    const C = this.config.hiddenSize, V = this.config.vocabSize, p = this.headPrefix, ranges = this.headRanges();
    if (ranges.length === 1) return this.linearBackward(dx, addDx, dlogits, x, p, rows, C, V);
    // Per vocabulary range: its dlogits columns, dx (+)= dl_r @ W_r, dW_r += dl_r^T @ x.
    const W = this.w(`${p}.weight`), dW = this.weights.grad(`${p}.weight`);
    ranges.forEach(({ start, count }, i) => {
      const dl = this.gpu.empty([rows, count], "head range dlogits"); // (rows, Vr)
      copyColumnBlock(this.gpu, dl, { stride: count, col0: 0 }, dlogits, { stride: V, col0: start }, rows, count);
      matmul(this.gpu, dx, dl, rowView(W, start, count), { M: rows, N: C, K: count, beta: addDx || i > 0 ? 1 : 0 });
      matmul(this.gpu, rowView(dW, start, count), dl, x, { M: count, N: C, K: rows, transA: true, beta: 1 });
      this.gpu.release(dl);
    });
    if (this.weights.has(`${p}.bias`)) sumRows(this.gpu, this.weights.grad(`${p}.bias`), dlogits, { M: rows, N: V, accumulate: true });
  }

  /**
   * Backward of `headForward` with the weight gradient summed transposed: dx (rows, C) =
   * dlogits @ W_head, dWT (C, V) += x^T @ dlogits (reads dlogits row by row: the fast layout
   * for a wide head), bias gradient into weights.grads. `addHeadGradT` adds dWT once.
   */
  headBackwardT(dx: Tensor, dlogits: Tensor, x: Tensor, rows: number, dWT: Tensor): void {
    if (this.headRanges().length > 1) throw new Error("headBackwardT: a head over several binding ranges has no (C, V) transposed gradient; use headBackward");
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
    if (a.shared) throw new Error("Transformer.backward: the last forward was forwardHiddenShared, whose head is the caller's (headBackward, then backwardHidden)");
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
    if (!a.keep) throw new Error("Transformer.backwardHidden: the last forward ran without grad (its attention kept no probabilities)");
    const c = this.config, gpu = this.gpu, g = this.scratch(), N = a.N, C = c.hiddenSize;
    // Shared layout: each packed token's gradient is the sum over the slots that read it.
    if (a.shared) fromFullRows(gpu, g.dlnFPacked!, dlnF, a.shared, C);
    const dln = a.shared ? g.dlnFPacked! : dlnF;
    rmsnormBackward(gpu, g.dresid, this.weights.grad(FINAL_NORM), dln, a.residF, this.w(FINAL_NORM), a.rstdF, { N, C, accumulate: true });
    for (let l = c.numLayers - 1; l >= 0; l--) {
      // The body read in reverse. `written` holds the slots whose gradient buffer already
      // holds a value (the layer's output at first): a second contribution adds to it.
      const body = this.bodies[l]!, written = new Set<Slot>(["out"]);
      for (let i = body.length - 1; i >= 0; i--) this.backwardBlock(body[i]!, a.layers[l]!, a, written);
    }
    embeddingBackward(gpu, this.weights.grad(EMBEDDING), g.dresid, a.ids, { N, C, V: c.vocabSize, accumulate: true });
  }

  /** Backward of one sub-block: its inputs' gradients from its outputs', weights' into weights.grads. */
  private backwardBlock(b: SubBlock, L: LayerActs, a: Acts, written: Set<Slot>): void {
    const gpu = this.gpu, c = this.config, g = this.scratch(), { B, T, N } = a, D = c.headDim;
    const t = (s: Slot) => slotOf(L, s), d = (s: Slot) => this.gradOf(s);
    switch (b.kind) {
      case "residual":
        // out = stream + branch: the three share one gradient buffer, so d(out) is already theirs.
        if (d(b.stream) !== d(b.out) || d(b.branch) !== d(b.out)) throw new Error(`Transformer: residual '${b.out}' needs one gradient buffer for '${b.stream}', '${b.branch}' and '${b.out}'`);
        firstWrite(written, b.stream, b.branch);
        return;
      case "project":
        for (const o of b.outs) {
          this.linearBackward(d(b.x), written.has(b.x), d(o.out), t(b.x), o.module, N, this.width(b.x), this.width(o.out));
          written.add(b.x);
        }
        return;
      case "swiglu":
        firstWrite(written, b.gate, b.up);
        swigluBackward(gpu, d(b.gate), d(b.up), d(b.out), t(b.gate), t(b.up));
        return;
      case "norm":
      case "headNorm":
        this.normBackward(b, L, N, written);
        return;
      case "rope":
        for (const s of [b.q, b.k]) ropeBackward(gpu, d(s), d(s), a.pos, this.rope, { B: 1, T: N, H: this.width(s) / D, D });
        return;
      case "attention": {
        firstWrite(written, b.q, b.k, b.v);
        const sizes = { B, T, Hq: c.numHeads, Hkv: c.numKvHeads, D };
        if (a.shared) sharedAttentionBackward(gpu, a.attention, d(b.q), d(b.k), d(b.v), g.attScratch, d(b.out), t(b.q), t(b.k), t(b.v), t(b.out), L.attKept, a.shared, a.full!, g.full!, sizes);
        else attentionBackwardIn(gpu, a.attention, d(b.q), d(b.k), d(b.v), g.attScratch, d(b.out), t(b.q), t(b.k), t(b.v), t(b.out), L.attKept, sizes);
        return;
      }
    }
  }

  /** RMSNorm backward; when its input's gradient already holds the skip path, dx goes through dtmp and adds. */
  private normBackward(b: SubBlock & { kind: "norm" | "headNorm" }, L: LayerActs, N: number, written: Set<Slot>): void {
    const gpu = this.gpu, g = this.scratch(), dIn = this.gradOf(b.x), adds = written.has(b.x);
    if (adds && dIn.size !== g.dtmp.size) throw new Error(`Transformer: norm input '${b.x}' gets two gradients but is not (N, C)`);
    const { rows, cols } = this.normShape(b, N);
    const dx = adds ? g.dtmp : dIn;
    rmsnormBackward(gpu, dx, this.weights.grad(b.weight), this.gradOf(b.out), slotOf(L, b.x), this.w(b.weight), this.rstdOf(L, b.out), { N: rows, C: cols, accumulate: true });
    if (adds) accumulate(gpu, dIn, g.dtmp);
    written.add(b.x);
  }

  private gradOf(s: Slot): Tensor {
    const t = this.scratch()[GRAD_OF[s]];
    if (!t) throw new Error(`Transformer: no gradient buffer for slot '${s}'`);
    return t;
  }

  /**
   * out (N, O) = x (N, I) @ W^T + b for the HF module `prefix` (prefix.weight, and prefix.bias
   * when the checkpoint has one): every projection of the layer body, here and in the decoder.
   */
  linear(out: Tensor, x: Tensor, prefix: string, N: number, I: number, O: number): void {
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

  /** The activations of (B, T) rows run whole (`shared` null) or in a shared layout of N = shared.N tokens; reused while the shapes stay. */
  private activations(B: number, T: number, shared: SharedRows | null): Acts {
    const N = shared ? shared.N : B * T, a = this.acts;
    if (a && a.B === B && a.T === T && a.N === N && !a.shared === !shared) {
      a.shared = shared;
      return a;
    }
    this.releaseActivations();
    const gpu = this.gpu, C = this.config.hiddenSize;
    const attention = this.attentionMode(B, T);
    const layers = this.bodies.map((body, l) => this.layerActs(body, l, N, B, T, attention));
    const residF = gpu.empty([N, C], "residF");
    // Each layer's output stream is the next layer's input (the last one's, residF); a
    // residual's branch is its output's buffer.
    layers.forEach((L, l) => {
      L.slot.out = l + 1 < layers.length ? slotOf(layers[l + 1]!, "resid") : residF;
      for (const b of this.bodies[l]!) if (b.kind === "residual") L.slot[b.branch] = slotOf(L, b.out);
    });
    const lnF = gpu.empty([N, C], "lnF");
    const full = shared ? this.fullRows(fullRowsWidths(this.attentionSizes()).forward, B * T, ["q", "k", "v", "out"] as const, "full") : null;
    this.acts = {
      B, T, N, shared, full, attention, keep: true, layers, residF,
      ids: gpu.empty([N], "ids", "u32"), pos: gpu.empty([N], "pos", "u32"),
      lnF, rstdF: gpu.empty([N], "rstdF"), hidden: shared ? gpu.empty([B * T, C], "hidden") : lnF, logits: null,
    };
    return this.acts;
  }

  private attentionSizes(): { Hq: number; Hkv: number; D: number } {
    return { Hq: this.config.numHeads, Hkv: this.config.numKvHeads, D: this.config.headDim };
  }

  /** Whole-row buffers (rows, width) named `names`, for the shared layout's attention (shared-attention.ts). */
  private fullRows<K extends string>(widths: number[], rows: number, names: readonly K[], label: string): Record<K, Tensor> {
    return Object.fromEntries(names.map((k, i) => [k, this.gpu.empty([rows, widths[i]!], `${label} ${k}`)])) as Record<K, Tensor>;
  }

  /**
   * The attention a (B, T) batch gets (ops/attention-mode.ts): the saved probabilities while
   * their (B, Hq, T, T) buffer fits one storage binding, else recompute from the log-sum-exp.
   */
  attentionMode(B: number, T: number): AttentionMode {
    return attentionMode({ B, T, Hq: this.config.numHeads }, this.gpu.maxBindingBytes);
  }

  /** One layer's own buffers (layer-body.ts ownedSlots; the memory plan counts the same), 1/rms per norm, what attention keeps. */
  private layerActs(body: readonly SubBlock[], l: number, N: number, B: number, T: number, mode: AttentionMode): LayerActs {
    const c = this.config, owned: Tensor[] = [];
    const e = (shape: number[], label: string) => { const t = this.gpu.empty(shape, `L${l}.${label}`); owned.push(t); return t; };
    const L: LayerActs = { slot: {}, rstd: {}, attKept: e(attentionKeptShape(mode, { B, T, Hq: c.numHeads }), mode === "saved" ? "att" : "lse"), owned };
    for (const s of ownedSlots(body)) L.slot[s] = e([N, this.width(s)], s);
    for (const b of body) if (b.kind === "norm" || b.kind === "headNorm") L.rstd[b.out] = e([normRows(c, b, N)], `rstd ${b.out}`);
    return L;
  }

  private scratch(): Grads {
    const a = this.acts!, c = this.config, g = this.grads;
    const scratchShape = attentionScratchShape(a.attention, { B: a.B, T: a.T, Hq: c.numHeads });
    if (g && g.dresid.size === a.N * c.hiddenSize && g.dlnF.size === a.B * a.T * c.hiddenSize && !g.full === !a.shared && sameShape(g.attScratch.shape, scratchShape)) return g;
    this.releaseScratch();
    const gpu = this.gpu, N = a.N, BT = a.B * a.T;
    const e = (shape: number[], label: string) => gpu.empty(shape, label);
    this.grads = {
      dresid: e([N, c.hiddenSize], "dresid"), dln: e([N, c.hiddenSize], "dln"), dtmp: e([N, c.hiddenSize], "dtmp"),
      dmlp: e([N, c.intermediateSize], "dmlp"), dgate: e([N, c.intermediateSize], "dgate"), dup: e([N, c.intermediateSize], "dup"),
      dattOut: e([N, c.numHeads * c.headDim], "dattOut"), dq: e([N, c.numHeads * c.headDim], "dq"),
      dk: e([N, c.numKvHeads * c.headDim], "dk"), dv: e([N, c.numKvHeads * c.headDim], "dv"),
      attScratch: e(scratchShape, a.attention === "saved" ? "datt" : "delta"), dlnF: e([BT, c.hiddenSize], "dlnF"),
      dlnFPacked: a.shared ? e([N, c.hiddenSize], "dlnF packed") : null,
      full: a.shared ? this.fullRows(fullRowsWidths(this.attentionSizes()).backward, BT, ["dout", "dq", "dk", "dv"] as const, "full") : null,
      dqPre: c.qkNorm ? e([N, c.numHeads * c.headDim], "dqPre") : null, dkPre: c.qkNorm ? e([N, c.numKvHeads * c.headDim], "dkPre") : null,
    };
    return this.grads;
  }

  private releaseActivations(): void {
    const a = this.acts;
    if (!a) return;
    for (const L of a.layers) this.gpu.release(...L.owned);
    this.gpu.release(a.ids, a.pos, a.residF, a.lnF, a.rstdF, a.logits, ...(a.shared ? [a.hidden] : []), ...Object.values(a.full ?? {}));
    this.acts = null;
  }

  private releaseScratch(): void {
    if (this.grads) {
      const { full, ...rest } = this.grads;
      this.gpu.release(...Object.values(rest), ...Object.values(full ?? {}));
    }
    this.grads = null;
  }

  /** Free activations and scratch (weights stay). */
  release(): void {
    this.releaseActivations();
    this.releaseScratch();
  }
}

/** Mark slots as holding a gradient; the body gives each of them only this one (else backward would overwrite a sum). */
function firstWrite(written: Set<Slot>, ...slots: Slot[]): void {
  for (const s of slots) {
    if (written.has(s)) throw new Error(`Transformer: slot '${s}' gets a gradient from two sub-blocks where backward writes only one`);
    written.add(s);
  }
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
