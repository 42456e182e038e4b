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
//
// The layer itself is layer-body.ts's list of sub-blocks, the one the full forward runs;
// the decoder walks it, and where a run of sub-blocks matches a fused kernel (and the
// options allow it) runs that instead. A residual add is held back until the next sub-block,
// so that a norm right after it (also the next layer's first, or the final norm) fuses with it.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { swigluForward } from "../ops/activations.js";
import { appendKV, attentionDecode } from "../ops/attention-decode.js";
import { decodeAddRmsnorm } from "../ops/decode-add-norm.js";
import { decodeRopeAppend } from "../ops/decode-rope-append.js";
import { decodeSwigluPacked } from "../ops/decode-swiglu.js";
import { embeddingForward } from "../ops/embedding.js";
import { kvGatherRows } from "../ops/kv-rows.js";
import { matmul } from "../ops/matmul.js";
import { accumulate } from "../ops/residual.js";
import { rmsnormForward, rmsnormSchedule } from "../ops/rmsnorm.js";
import { ropeForward } from "../ops/rope.js";
import { EMBEDDING, FINAL_NORM, type Slot, type SubBlock } from "./layer-body.js";
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

  /**
   * The first T positions of every row from a row of `src` (same model): this row b <- src row
   * rows[b] ((B) u32, each < src.B), keys and values of every layer, bit for bit. generate()
   * prefills each distinct prompt once into `src` and gives each response row its prompt's.
   */
  gatherPrefix(src: KVCache, rows: Tensor, T: number): void {
    const c = this.model.config;
    const s = { B: this.B, U: src.B, H: c.numKvHeads, T, D: c.headDim, Td: this.Tmax, Ts: src.Tmax };
    for (let l = 0; l < c.numLayers; l++) kvGatherRows(this.gpu, this.k[l]!, this.v[l]!, src.k[l]!, src.v[l]!, rows, s);
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

/**
 * The work buffer holding each slot. The residual stream is one buffer (x), updated in
 * place; both norms write ln; a block's output before its residual add lands in tmp; Qwen3's
 * q and k before their norms use att and tmp2, free until attention writes att.
 */
const WORK_OF: Readonly<Record<Slot, keyof Work>> = {
  resid: "x", resid2: "x", out: "x", ln1: "ln", ln2: "ln", qPre: "att", kPre: "tmp2",
  q: "q", k: "k", v: "v", attOut: "att", o: "tmp", down: "tmp", gate: "gate", up: "up", mlp: "mlp",
};

/** One stepHidden call: its inputs, its buffers, and the residual add held back (branch into x). */
interface StepRun {
  cache: KVCache;
  pos: Tensor; // (B*Tq) u32
  start: Tensor; // (B) u32
  prefix: Tensor | null; // (B) u32, attentionDecode's: shared prefix of each row's block of 8
  Tq: number;
  N: number; // B * Tq
  w: Work;
  pending: Tensor | null;
}

/** The work buffer of a slot (the Qwen3-only ones exist only for Qwen3 models). */
function workSlot(w: Work, s: Slot): Tensor {
  const t = w[WORK_OF[s]];
  if (!t) throw new Error(`Decoder: no work buffer for slot '${s}'`);
  return t;
}

type Project = SubBlock & { kind: "project" };
type Rope = SubBlock & { kind: "rope" };
type Attention = SubBlock & { kind: "attention" };
type Swiglu = SubBlock & { kind: "swiglu" };

/** project q|k|v, rope q and k, attend: what one QKV matmul + decodeRopeAppend + attention covers. */
function qkvRun(body: readonly SubBlock[], i: number): [Project, Rope, Attention] | null {
  const [p, r, a] = [body[i], body[i + 1], body[i + 2]];
  if (p?.kind !== "project" || r?.kind !== "rope" || a?.kind !== "attention" || p.outs.length !== 3) return null;
  const [q, k, v] = p.outs.map((o) => o.out);
  return r.q === q && r.k === k && a.q === q && a.k === k && a.v === v ? [p, r, a] : null;
}

/** project gate|up, then swiglu of the two: what one gate|up matmul + decodeSwigluPacked covers. */
function gateUpRun(body: readonly SubBlock[], i: number): [Project, Swiglu] | null {
  const [p, f] = [body[i], body[i + 1]];
  if (p?.kind !== "project" || f?.kind !== "swiglu" || p.outs.length !== 2) return null;
  return f.gate === p.outs[0]!.out && f.up === p.outs[1]!.out ? [p, f] : null;
}

/** The first run of a layer's body that `match` accepts. */
function findRun<R>(body: readonly SubBlock[], match: (body: readonly SubBlock[], i: number) => R | null): R | null {
  for (let i = 0; i < body.length; i++) {
    const r = match(body, i);
    if (r) return r;
  }
  return null;
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
    // Packing needs the run in every layer (Qwen3's q/k norms sit between q|k|v and RoPE), and
    // biases the concatenation can carry: all three of q, k, v or none; none on gate and up.
    const biases = (p: Project) => p.outs.map((x) => w.has(`${x.module}.bias`));
    const qkv = model.bodies.map((body) => findRun(body, qkvRun));
    const gu = model.bodies.map((body) => findRun(body, gateUpRun));
    this.packQkv = pack && qkv.every((r) => r !== null && biases(r[0]).every((b, _, all) => b === all[0]));
    this.packGu = pack && gu.every((r) => r !== null && biases(r[0]).every((b) => !b));
    this.fuseNorm = o.fuseNorm ?? (c.hiddenSize % 4 === 0 && rmsnormSchedule(gpu, c.hiddenSize) === "lane");
    if (this.fuseNorm && c.hiddenSize % 4 !== 0) throw new Error(`Decoder: fuseNorm needs hidden_size a multiple of 4, got ${c.hiddenSize}`);
  }

  /** The concatenated weights, copied (recorded in order) on first use. */
  private packedWeights(): Packed {
    if (this.packed) return this.packed;
    const gpu = this.gpu, m = this.model, W = (n: string) => m.weights.get(n);
    const concat = (names: string[], label: string): Tensor => {
      const parts = names.map(W);
      const out = gpu.empty([parts.reduce((a, t) => a + t.size, 0)], label);
      let at = 0;
      for (const t of parts) { gpu.copy(out, t, t.size, 0, at); at += t.size; }
      return out;
    };
    const p: Packed = { qkv: [], qkvBias: [], gu: [] };
    m.bodies.forEach((body, l) => {
      if (this.packQkv) {
        const mods = findRun(body, qkvRun)![0].outs.map((o) => o.module);
        p.qkv.push(concat(mods.map((x) => `${x}.weight`), `L${l} qkv weight`));
        p.qkvBias.push(m.weights.has(`${mods[0]}.bias`) ? concat(mods.map((x) => `${x}.bias`), `L${l} qkv bias`) : null);
      }
      if (this.packGu) p.gu.push(concat(findRun(body, gateUpRun)![0].outs.map((o) => `${o.module}.weight`), `L${l} gate|up weight`));
    });
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
   * `prefix` ((B) u32, Tq = 1) is attentionDecode's: rows 8k .. 8k + 7 of the cache hold the
   * same keys and values below the block's smallest prefix[b], so attention may read them once.
   */
  stepHidden(cache: KVCache, ids: Tensor, pos: Tensor, start: Tensor, Tq: number, lastRows: Tensor | null = null, prefix: Tensor | null = null): Tensor {
    const gpu = this.gpu, m = this.model, c = m.config, B = cache.B, N = B * Tq, C = c.hiddenSize;
    const w = this.workFor(B, Tq, lastRows !== null);
    const run: StepRun = { cache, pos, start, prefix: Tq === 1 ? prefix : null, Tq, N, w, pending: null };
    embeddingForward(gpu, w.x, m.weights.get(EMBEDDING), ids, { N, C, V: c.vocabSize });
    m.bodies.forEach((body, l) => this.runLayer(body, l, run));
    if (!lastRows) {
      this.norm(run, w.x, w.ln, w.rstd, FINAL_NORM, N, C);
      return w.ln;
    }
    this.flush(run);
    // Gather one row per sequence (an embedding lookup whose table is the residual stream).
    embeddingForward(gpu, w.last, w.x, lastRows, { N: B, C, V: N });
    rmsnormForward(gpu, w.lastLn, w.lastRstd, w.last, m.weights.get(FINAL_NORM), { N: B, C, eps: c.rmsNormEps });
    return w.lastLn;
  }

  /** Layer l's sub-blocks, each run of them that a fused kernel covers through that kernel. */
  private runLayer(body: readonly SubBlock[], l: number, run: StepRun): void {
    for (let i = 0; i < body.length; ) {
      const b = body[i]!;
      if (b.kind !== "norm") this.flush(run);
      const qkv = this.packQkv ? qkvRun(body, i) : null;
      const gu = this.packGu ? gateUpRun(body, i) : null;
      if (qkv) this.qkvPacked(qkv, l, run);
      else if (gu) this.gateUpPacked(gu, l, run);
      else this.runBlock(b, l, run);
      i += qkv ? 3 : gu ? 2 : 1;
    }
  }

  /** One sub-block with the unfused kernels (a norm still fuses with a held-back residual add). */
  private runBlock(b: SubBlock, l: number, run: StepRun): void {
    const gpu = this.gpu, m = this.model, c = m.config, { w, N, Tq } = run, D = c.headDim, t = (s: Slot) => workSlot(w, s);
    switch (b.kind) {
      case "norm":
        this.norm(run, t(b.x), t(b.out), w.rstd, b.weight, N, c.hiddenSize);
        return;
      case "headNorm":
        rmsnormForward(gpu, t(b.out), w.rstdH!, t(b.x), m.weights.get(b.weight), { N: (N * this.model.width(b.x)) / D, C: D, eps: c.rmsNormEps });
        return;
      case "project":
        for (const o of b.outs) m.linear(t(o.out), t(b.x), o.module, N, this.model.width(b.x), this.model.width(o.out));
        return;
      case "rope":
        for (const s of [b.q, b.k]) ropeForward(gpu, t(s), t(s), run.pos, m.rope, { B: run.cache.B, T: Tq, H: this.model.width(s) / D, D });
        return;
      case "attention":
        appendKV(gpu, run.cache.k[l]!, run.cache.v[l]!, t(b.k), t(b.v), run.start, { B: run.cache.B, Tq, Hkv: c.numKvHeads, D, Tmax: run.cache.Tmax });
        this.attend(b, l, run);
        return;
      case "residual":
        // x += branch, held back for the norm that follows (the stream has one buffer).
        if (t(b.stream) !== w.x || t(b.out) !== w.x) throw new Error(`Decoder: residual '${b.out}' must update the stream buffer in place`);
        run.pending = t(b.branch);
        return;
      case "swiglu":
        swigluForward(gpu, t(b.out), t(b.gate), t(b.up));
        return;
    }
  }

  /** One matmul against [Wq; Wk; Wv], RoPE and the cache append in one kernel, then attention. */
  private qkvPacked([p, r, a]: [Project, Rope, Attention], l: number, run: StepRun): void {
    const m = this.model, c = m.config, { w, N } = run, packed = this.packedWeights();
    const QKV = p.outs.reduce((n, o) => n + this.model.width(o.out), 0);
    matmul(this.gpu, w.qkv!, workSlot(w, p.x), packed.qkv[l]!, { M: N, N: QKV, K: this.model.width(p.x), transB: true, bias: packed.qkvBias[l] ?? null });
    decodeRopeAppend(this.gpu, workSlot(w, r.q), run.cache.k[l]!, run.cache.v[l]!, w.qkv!, run.pos, run.start, m.rope, { B: run.cache.B, Tq: run.Tq, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, Tmax: run.cache.Tmax });
    this.attend(a, l, run);
  }

  /** One matmul against [Wgate; Wup], then SwiGLU over the packed halves. */
  private gateUpPacked([p, f]: [Project, Swiglu], l: number, run: StepRun): void {
    const { w, N } = run, F = this.model.width(f.out);
    matmul(this.gpu, w.gu!, workSlot(w, p.x), this.packedWeights().gu[l]!, { M: N, N: 2 * F, K: this.model.width(p.x), transB: true });
    decodeSwigluPacked(this.gpu, workSlot(w, f.out), w.gu!, { N, F });
  }

  /** Attention of the new tokens over the cache (their keys and values already appended). */
  private attend(a: Attention, l: number, run: StepRun): void {
    const c = this.model.config, w = run.w;
    attentionDecode(this.gpu, workSlot(w, a.out), workSlot(w, a.q), run.cache.k[l]!, run.cache.v[l]!, run.start, { B: run.cache.B, Tq: run.Tq, Hq: c.numHeads, Hkv: c.numKvHeads, D: c.headDim, Tmax: run.cache.Tmax }, undefined, run.prefix);
  }

  /** out = rmsnorm(x) * weight, after the held-back residual add: one fused kernel or the pair. */
  private norm(run: StepRun, x: Tensor, out: Tensor, rstd: Tensor, weight: string, N: number, C: number): void {
    const gpu = this.gpu, eps = this.model.config.rmsNormEps, W = this.model.weights.get(weight);
    if (run.pending && x !== run.w.x) this.flush(run);
    const t = run.pending;
    run.pending = null;
    if (t && this.fuseNorm) decodeAddRmsnorm(gpu, x, out, rstd, t, W, { N, C, eps });
    else {
      if (t) accumulate(gpu, x, t);
      rmsnormForward(gpu, out, rstd, x, W, { N, C, eps });
    }
  }

  /** Apply a held-back residual add. */
  private flush(run: StepRun): void {
    if (run.pending) accumulate(this.gpu, run.w.x, run.pending);
    run.pending = null;
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
