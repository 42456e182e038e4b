// One decoder layer of a LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM, written once,
// as data: the sub-blocks in order, the activation slots each reads and writes, and the weights
// (Hugging Face names) each reads. transformer.ts runs it forward over whole sequences and
// backward in reverse; decoder.ts runs it over a KV cache, substituting its fused kernels where
// a run of sub-blocks matches one (packed q|k|v + RoPE + cache append, packed gate|up + SwiGLU,
// residual add + the RMSNorm after it). An architecture change (a new norm, a bias, q/k-norm)
// is an edit here, and the drivers follow it; a new kind of sub-block is a case in each driver.
//
// Slots name values, not buffers: each driver maps them onto its own buffers (the full
// forward keeps one per slot for backward, aliasing a residual's branch with its output; the
// decoder reuses a few). Every layer's residual stream enters as `resid` and leaves as `out`,
// which is the next layer's `resid` (after the last layer, the final norm's input).
import type { ModelConfig } from "./config.js";

/** Activation slots of one layer. */
export type Slot =
  | "resid" | "ln1" | "qPre" | "kPre" | "q" | "k" | "v" | "attOut" | "o" | "resid2" | "ln2" | "gate" | "up" | "mlp" | "down" | "out";

/** Row width of a slot: C (hidden), Q (Hq * D), KV (Hkv * D), F (intermediate). */
export type Width = "C" | "Q" | "KV" | "F";

export const SLOT_WIDTH: Readonly<Record<Slot, Width>> = {
  resid: "C", ln1: "C", qPre: "Q", kPre: "KV", q: "Q", k: "KV", v: "KV", attOut: "Q",
  o: "C", resid2: "C", ln2: "C", gate: "F", up: "F", mlp: "F", down: "C", out: "C",
};

/** The number a width stands for in a model. */
export function widthOf(c: ModelConfig, w: Width): number {
  switch (w) {
    case "C": return c.hiddenSize;
    case "Q": return c.numHeads * c.headDim;
    case "KV": return c.numKvHeads * c.headDim;
    case "F": return c.intermediateSize;
  }
}

/** One nn.Linear: `module`.weight (O, I), and `module`.bias (O) when the checkpoint has it. */
export interface Projection {
  out: Slot;
  module: string;
}

export type SubBlock =
  /** RMSNorm of the residual stream over C; its input's gradient also has the skip path. */
  | { kind: "norm"; x: Slot; out: Slot; weight: string }
  /** Linears reading the same input, in order (their input gradients add up in this order). */
  | { kind: "project"; x: Slot; outs: readonly Projection[] }
  /** RMSNorm over each head's D values (Qwen3 q_norm / k_norm); heads = width(x) / D. */
  | { kind: "headNorm"; x: Slot; out: Slot; weight: string }
  /** Rotary position embedding of q and k, in place, at each token's position. */
  | { kind: "rope"; q: Slot; k: Slot }
  /** Causal grouped-query attention. */
  | { kind: "attention"; q: Slot; k: Slot; v: Slot; out: Slot }
  /** out = stream + branch. */
  | { kind: "residual"; stream: Slot; branch: Slot; out: Slot }
  /** out = silu(gate) * up. */
  | { kind: "swiglu"; gate: Slot; up: Slot; out: Slot };

export const EMBEDDING = "model.embed_tokens.weight";
export const FINAL_NORM = "model.norm.weight";

/** Layer `l`'s sub-blocks in forward order. */
export function layerBody(c: ModelConfig, l: number): SubBlock[] {
  const p = `model.layers.${l}`, a = `${p}.self_attn`, m = `${p}.mlp`;
  return [
    { kind: "norm", x: "resid", out: "ln1", weight: `${p}.input_layernorm.weight` },
    ...attentionInput(c, a),
    { kind: "rope", q: "q", k: "k" },
    { kind: "attention", q: "q", k: "k", v: "v", out: "attOut" },
    { kind: "project", x: "attOut", outs: [{ out: "o", module: `${a}.o_proj` }] },
    { kind: "residual", stream: "resid", branch: "o", out: "resid2" },
    { kind: "norm", x: "resid2", out: "ln2", weight: `${p}.post_attention_layernorm.weight` },
    { kind: "project", x: "ln2", outs: [{ out: "gate", module: `${m}.gate_proj` }, { out: "up", module: `${m}.up_proj` }] },
    { kind: "swiglu", gate: "gate", up: "up", out: "mlp" },
    { kind: "project", x: "mlp", outs: [{ out: "down", module: `${m}.down_proj` }] },
    { kind: "residual", stream: "resid2", branch: "down", out: "out" },
  ];
}

/** q, k, v from ln1; Qwen3 normalises each head of q and k before RoPE. */
function attentionInput(c: ModelConfig, a: string): SubBlock[] {
  const qk = c.qkNorm;
  const project: SubBlock = {
    kind: "project",
    x: "ln1",
    outs: [{ out: qk ? "qPre" : "q", module: `${a}.q_proj` }, { out: qk ? "kPre" : "k", module: `${a}.k_proj` }, { out: "v", module: `${a}.v_proj` }],
  };
  if (!qk) return [project];
  return [
    project,
    { kind: "headNorm", x: "qPre", out: "q", weight: `${a}.q_norm.weight` },
    { kind: "headNorm", x: "kPre", out: "k", weight: `${a}.k_norm.weight` },
  ];
}

/** Every slot a body writes or reads, in first-use order. */
export function slotsOf(body: readonly SubBlock[]): Slot[] {
  const seen = new Set<Slot>();
  for (const b of body) for (const s of blockSlots(b)) seen.add(s);
  return [...seen];
}

/**
 * The slots a full forward gives a buffer of their own: every slot but `out` (the next layer's
 * `resid`, or the final norm's input) and the residual branches (written into the residual's
 * output buffer). The transformer allocates these and the memory plan counts them.
 */
export function ownedSlots(body: readonly SubBlock[]): Slot[] {
  const branches = new Set(body.flatMap((b) => (b.kind === "residual" ? [b.branch] : [])));
  return slotsOf(body).filter((s) => s !== "out" && !branches.has(s));
}

/** Rows a norm normalises over N tokens (and keeps a 1/rms for): N for a norm over C, N x heads for a head norm. */
export function normRows(c: ModelConfig, b: SubBlock & { kind: "norm" | "headNorm" }, N: number): number {
  return b.kind === "norm" ? N : (N * widthOf(c, SLOT_WIDTH[b.x])) / c.headDim;
}

function blockSlots(b: SubBlock): Slot[] {
  switch (b.kind) {
    case "norm": case "headNorm": return [b.x, b.out];
    case "project": return [b.x, ...b.outs.map((o) => o.out)];
    case "rope": return [b.q, b.k];
    case "attention": return [b.q, b.k, b.v, b.out];
    case "residual": return [b.stream, b.branch, b.out];
    case "swiglu": return [b.gate, b.up, b.out];
  }
}

/**
 * The parameter names a body reads: norm weights, and each projection's weight plus its bias
 * when `hasBias(module)` says the checkpoint has one.
 */
export function weightsOf(body: readonly SubBlock[], hasBias: (module: string) => boolean): string[] {
  return body.flatMap((b): string[] => {
    if (b.kind === "norm" || b.kind === "headNorm") return [b.weight];
    if (b.kind !== "project") return [];
    return b.outs.flatMap((o) => [`${o.module}.weight`, ...(hasBias(o.module) ? [`${o.module}.bias`] : [])]);
  });
}
