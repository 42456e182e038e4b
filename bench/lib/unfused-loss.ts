// The benchmark baseline of the fused loss head: the same GRPO-family per-token loss and
// logits gradient as an eager framework runs it, one kernel per op, every intermediate
// written to and read back from GPU memory (PyTorch eager + autograd would launch about
// the same list). Bench-only code: its correctness is checked against the compiled stage
// on every bench run (`compareWithFused`) and in test/bench/unfused-loss.test.ts.
//
// Forward, per response i (B) and token slot n (N = B*T), mask m_n = tstep_n >= 0:
//   A_i = (r_i - mean_g r) / (std_g(r, ddof) + eps)     a_i = aggregation weight
//   ls = log_softmax(logits)   logp = ls[n, id_n]   H = entropy(logits)
//   rho = exp(logp - old)      surr = min(rho A, clamp(rho, 1-eps_low, 1+eps_high) A)
//   ell = -surr + kl_coef k3(ref - logp) - entropy_bonus H
//   contribution = m ? a ell : 0        loss = sum contribution
// Backward (autograd's order, ties of min/max to the first argument as the IR's rule table):
//   g = m ? a : 0, then d logp through k3, the clipped surrogate and the ratio, then
//   dout = zeros(N, V) with dout[n, id_n] = dlogp_n, dlogits = log_softmax_backward(dout, ls)
//   (+ entropy backward when entropy_bonus != 0).
import type { StageOutputs, StageInputs, StageRunner } from "../../compiler/codegen/runner.js";
import { K_SEQ, SEQ_COLUMNS, type SeqColumn } from "../../compiler/codegen/layout.js";
import type { Pipeline, Stage } from "../../compiler/pipeline.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Binding, Kernel } from "../../runtime/engine/kernel.js";
import { entropyBackward, entropyForward } from "../../runtime/engine/ops/entropy.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "../../runtime/engine/ops/grid.js";
import { logSoftmaxBackward, logSoftmaxForward } from "../../runtime/engine/ops/logprobs.js";
import type { Tensor } from "../../runtime/engine/tensor.js";

export interface ChainConfig {
  epsLow: number;
  epsHigh: number;
  /** Coefficient of k3 (0: no KL term, no kernels for it). */
  klCoef: number;
  entropyBonus: number;
  aggregate: "token_mean" | "seq_mean_token_mean";
  /** GRPO's advantage: (r - mean) / (std(r, ddof) + advEps) over the group. */
  advEps: number;
  ddof: number;
}

/**
 * The chain for a GRPO-shaped stage: `advantage = (r - mean(r over group)) / (std(r over
 * group, 1) + 1e-4)`, token ratio, no dual clip, weight 1, mask true, `kl beta * k3` or none.
 * The advantage and KL expressions are not parsed: `compareWithFused` catches a pipeline
 * whose expressions differ.
 */
export function grpoChainConfig(p: Pipeline, stage: Stage): ChainConfig {
  const l = p.loss;
  if (l.ratio !== "token" || l.dualClip !== null) throw new Error("unfused chain: needs ratio token and no dual clip");
  if (l.aggregate !== "token_mean" && l.aggregate !== "seq_mean_token_mean") throw new Error(`unfused chain: the baseline covers token_mean and seq_mean_token_mean aggregation, not ${l.aggregate}`);
  let klCoef = 0;
  if (stage.kl) {
    const beta = p.params.find((q) => q.name === "beta");
    if (!beta) throw new Error("unfused chain: the KL term must be `beta * k3`");
    klCoef = beta.value;
  }
  return { epsLow: l.epsLow, epsHigh: l.epsHigh, klCoef, entropyBonus: l.entropyBonus, aggregate: l.aggregate, advEps: 1e-4, ddof: 1 };
}

// ---- one kernel per op ----------------------------------------------------------------

const WG = 64;
const UNIFORMS = [
  { name: "n", type: "u32" }, { name: "T", type: "u32" }, { name: "V", type: "u32" },
  { name: "c0", type: "f32" }, { name: "c1", type: "f32" },
] as const;

/** out[i] = expr for i < n; `ins` bind after out in order (a, b, c, or named). */
function ew(name: string, ins: (string | Binding)[], expr: string): Kernel {
  return {
    name: `unfused_${name}`,
    bindings: [{ name: "out", access: "read_write" }, ...ins.map((b) => (typeof b === "string" ? { name: b, access: "read" as const } : b))],
    uniforms: [...UNIFORMS],
    workgroupSize: [WG, 1, 1],
    body: `fn main(${GRID_PARAMS}) {\n  let i = ${FLAT_INDEX(WG)};\n  if (i >= u.n) { return; }\n  ${expr.includes("out[") ? expr : `out[i] = ${expr};`}\n}`,
  };
}

const ids: Binding = { name: "ids", access: "read", type: "u32" };
const tstep: Binding = { name: "tstep", access: "read", type: "i32" };
/** WGSL for column `c` of response `row` in the kernel argument `a` (a seqin copy). */
const SEQ_A = (row: string, c: SeqColumn) => `a[${K_SEQ}u * ${row} + ${SEQ_COLUMNS.indexOf(c)}u]`;

const K = {
  sub: ew("sub", ["a", "b"], "a[i] - b[i]"),
  add: ew("add", ["a", "b"], "a[i] + b[i]"),
  mul: ew("mul", ["a", "b"], "a[i] * b[i]"),
  div: ew("div", ["a", "b"], "a[i] / b[i]"),
  min: ew("minimum", ["a", "b"], "min(a[i], b[i])"),
  neg: ew("neg", ["a"], "-a[i]"),
  exp: ew("exp", ["a"], "exp(a[i])"),
  addc: ew("add_scalar", ["a"], "a[i] + u.c0"),
  mulc: ew("mul_scalar", ["a"], "a[i] * u.c0"),
  clamp: ew("clamp", ["a"], "min(max(a[i], u.c0), u.c1)"),
  // (B) sequence value -> (N) token slots, as expand + contiguous.
  expand: ew("expand", ["a"], "a[i / u.T]"),
  maskWhere: ew("where_mask", ["a", tstep], "select(0.0, a[i], tstep[i] >= 0)"),
  // d min(x, y): to x where x <= y, else to y.
  minGradX: ew("minimum_backward_x", ["a", "b", "c"], "select(0.0, a[i], b[i] <= c[i])"),
  minGradY: ew("minimum_backward_y", ["a", "b", "c"], "select(a[i], 0.0, b[i] <= c[i])"),
  clampGrad: ew("clamp_backward", ["a", "b"], "select(0.0, a[i], b[i] >= u.c0 && b[i] <= u.c1)"),
  gather: ew("gather", ["a", ids], "a[i * u.V + ids[i]]"),
  fill0: ew("zeros", [], "0.0"),
  scatter: ew("scatter", ["a", ids], "out[i * u.V + ids[i]] = a[i];"),
  // seqin (B, K_SEQ) in SEQ_COLUMNS order (the stage kernels' own layout).
  column: ew("select_column", ["a"], `a[${K_SEQ}u * i + u32(u.c0)]`),
  groupMean: ew("group_mean", ["a"], `var s = 0.0; var k = 0.0;
  for (var j = 0u; j < u.n; j++) { if (${SEQ_A("j", "group")} == ${SEQ_A("i", "group")}) { s += ${SEQ_A("j", "r")}; k += 1.0; } }
  out[i] = s / k;`),
  groupStd: ew("group_std", ["a", "b"], `var s = 0.0; var k = 0.0;
  for (var j = 0u; j < u.n; j++) { if (${SEQ_A("j", "group")} == ${SEQ_A("i", "group")}) { let d = ${SEQ_A("j", "r")} - b[i]; s += d * d; k += 1.0; } }
  out[i] = sqrt(s / (k - u.c0));`),
  countRow: ew("count_mask", [tstep], `var k = 0.0;
  for (var t = 0u; t < u.T; t++) { k += select(0.0, 1.0, tstep[i * u.T + t] >= 0); }
  out[i] = k;`),
  seqMeanWeight: ew("seq_mean_weight", ["a"], "select(0.0, 1.0 / (u.c0 * a[i]), a[i] > 0.0)"),
  tokenMeanWeight: ew("token_mean_weight", ["a"], "select(0.0, 1.0 / a[0], a[0] > 0.0)"),
};

/** One workgroup: out[0] = sum of a[0..n) (torch.sum's last stage). */
const sumKernel: Kernel = {
  name: "unfused_sum",
  bindings: [{ name: "out", access: "read_write" }, { name: "a", access: "read" }],
  uniforms: [...UNIFORMS],
  workgroupSize: [256, 1, 1],
  body: /* wgsl */ `
var<workgroup> red: array<f32, 256>;
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < u.n; i += 256u) { s += a[i]; }
  red[lid] = s;
  for (var k = 128u; k > 0u; k >>= 1u) {
    workgroupBarrier();
    if (lid < k) { red[lid] += red[lid + k]; }
  }
  if (lid == 0u) { out[0] = red[0]; }
}`,
};

// ---- the chain -------------------------------------------------------------------------

export interface ChainDims {
  B: number;
  T: number;
  V: number;
}

export interface ChainOutputs {
  logp: Tensor; // (N)
  H: Tensor; // (N)
  ratio: Tensor; // (N)
  kl: Tensor | null; // (N) kl_coef * k3
  tokenLoss: Tensor; // (N) ell
  contribution: Tensor; // (N)
  dlogp: Tensor; // (N)
  loss: Tensor; // (1)
  dlogits: Tensor; // (N, V)
}

/** Bytes one dispatch moves: every read binding's size read, every written binding's size written. */
export interface Traffic {
  dispatches: number;
  readBytes: number;
  writeBytes: number;
}

export class UnfusedLossChain {
  private readonly pool = new Map<string, Tensor>();
  traffic: Traffic = { dispatches: 0, readBytes: 0, writeBytes: 0 };

  constructor(private readonly gpu: Gpu, readonly cfg: ChainConfig, readonly dims: ChainDims) {}

  /** A persistent intermediate (allocated on first use, reused every run, as a caching allocator would). */
  private t(name: string, n: number): Tensor {
    let x = this.pool.get(name);
    if (!x) this.pool.set(name, (x = this.gpu.empty([n], `unfused_${name}`)));
    return x;
  }

  private count(reads: Tensor[], writes: Tensor[]): void {
    this.traffic.dispatches++;
    this.traffic.readBytes += reads.reduce((s, x) => s + x.size * 4, 0);
    this.traffic.writeBytes += writes.reduce((s, x) => s + x.size * 4, 0);
  }

  /** out = kernel(ins) over n elements; `over` the element count when it is not out's size. */
  private op(k: Kernel, name: string, n: number, ins: Tensor[], c: { c0?: number; c1?: number; over?: number } = {}): Tensor {
    const out = this.t(name, n);
    const over = c.over ?? n;
    const { T, V } = this.dims;
    this.gpu.dispatch(k, [out, ...ins], { n: over, T, V, c0: c.c0 ?? 0, c1: c.c1 ?? 0 }, k === sumKernel ? [1] : grid1d(over, WG));
    this.count(ins, [out]);
    return out;
  }

  /** Records the whole chain (no readback). Reads logits, ids, tstep, oldLogp, refLogp, seq of `inp`. */
  run(inp: StageInputs): ChainOutputs {
    const { gpu, cfg } = this;
    const { B, T, V } = this.dims;
    const N = B * T;
    const logits = inp.logits!, idsT = inp.ids, mask = inp.tstep;
    // Sequence level.
    const r = this.op(K.column, "r", B, [inp.seq], { c0: SEQ_COLUMNS.indexOf("r") });
    const gm = this.op(K.groupMean, "group_mean", B, [inp.seq]);
    const dr = this.op(K.sub, "r_centered", B, [r, gm]);
    const gs = this.op(K.groupStd, "group_std", B, [inp.seq, gm], { c0: cfg.ddof });
    const gse = this.op(K.addc, "group_std_eps", B, [gs], { c0: cfg.advEps });
    const A = this.op(K.div, "advantage", B, [dr, gse]);
    const nTok = this.op(K.countRow, "tokens_per_seq", B, [mask]);
    const agg = cfg.aggregate === "seq_mean_token_mean"
      ? this.op(K.seqMeanWeight, "agg", B, [nTok], { c0: B })
      : this.op(K.tokenMeanWeight, "agg", B, [this.op(sumKernel, "tokens", 1, [nTok], { over: B })]);
    // Token level: the policy.
    const ls = this.t("log_softmax", N * V);
    logSoftmaxForward(gpu, ls, logits, { N, V });
    this.count([logits], [ls]);
    const logp = this.op(K.gather, "logp", N, [ls, idsT]);
    const H = this.t("entropy", N);
    const lse = cfg.entropyBonus !== 0 ? this.t("lse", N) : null;
    entropyForward(gpu, H, lse, logits, { N, V });
    this.count([logits], lse ? [H, lse] : [H]);
    // The clipped surrogate.
    const lr = this.op(K.sub, "log_ratio", N, [logp, inp.oldLogp]);
    const rho = this.op(K.exp, "ratio", N, [lr]);
    const At = this.op(K.expand, "advantage_tok", N, [A]);
    const s1 = this.op(K.mul, "surr1", N, [rho, At]);
    const rc = this.op(K.clamp, "ratio_clipped", N, [rho], { c0: 1 - cfg.epsLow, c1: 1 + cfg.epsHigh });
    const s2 = this.op(K.mul, "surr2", N, [rc, At]);
    const surr = this.op(K.min, "surr", N, [s1, s2]);
    let ell = this.op(K.neg, "pg", N, [surr]);
    let kl: Tensor | null = null, edd: Tensor | null = null;
    if (cfg.klCoef !== 0) {
      const dd = this.op(K.sub, "ref_minus_logp", N, [inp.refLogp!, logp]);
      edd = this.op(K.exp, "exp_ref_minus_logp", N, [dd]);
      const x = this.op(K.sub, "k3_partial", N, [edd, dd]);
      const k3 = this.op(K.addc, "k3", N, [x], { c0: -1 });
      kl = this.op(K.mulc, "kl", N, [k3], { c0: cfg.klCoef });
      ell = this.op(K.add, "ell_kl", N, [ell, kl]);
    }
    if (cfg.entropyBonus !== 0) ell = this.op(K.sub, "ell_h", N, [ell, this.op(K.mulc, "bonus_h", N, [H], { c0: cfg.entropyBonus })]);
    const at = this.op(K.expand, "agg_tok", N, [agg]);
    const c0 = this.op(K.mul, "weighted", N, [at, ell]);
    const contribution = this.op(K.maskWhere, "contribution", N, [c0, mask]);
    const loss = this.op(sumKernel, "loss", 1, [contribution], { over: N });
    // Backward from d loss = 1: d ell = m ? a : 0.
    const g = this.op(K.maskWhere, "d_ell", N, [at, mask]);
    const dsurr = this.op(K.neg, "d_surr", N, [g]);
    const dS1 = this.op(K.minGradX, "d_surr1", N, [dsurr, s1, s2]);
    const dS2 = this.op(K.minGradY, "d_surr2", N, [dsurr, s1, s2]);
    const dr1 = this.op(K.mul, "d_ratio1", N, [dS1, At]);
    const drc = this.op(K.mul, "d_ratio_clipped", N, [dS2, At]);
    const dr2 = this.op(K.clampGrad, "d_ratio2", N, [drc, rho], { c0: 1 - cfg.epsLow, c1: 1 + cfg.epsHigh });
    const drho = this.op(K.add, "d_ratio", N, [dr1, dr2]);
    let dlogp = this.op(K.mul, "d_logp_ratio", N, [drho, rho]);
    if (cfg.klCoef !== 0) {
      // d k3 / d dd = exp(dd) - 1, and d dd / d logp = -1.
      const dk3 = this.op(K.mulc, "d_k3", N, [g], { c0: cfg.klCoef });
      const t1 = this.op(K.mul, "d_dd_exp", N, [dk3, edd!]);
      const ddd = this.op(K.sub, "d_dd", N, [t1, dk3]);
      const dlk = this.op(K.neg, "d_logp_kl", N, [ddd]);
      dlogp = this.op(K.add, "d_logp", N, [dlogp, dlk]);
    }
    const dout = this.op(K.fill0, "d_log_softmax", N * V, []);
    gpu.dispatch(K.scatter, [dout, dlogp, idsT], { n: N, T, V, c0: 0, c1: 0 }, grid1d(N, WG));
    this.count([dlogp, idsT], [dlogp]); // writes N elements of dout: dlogp's size
    const dlogits = this.t("dlogits", N * V);
    logSoftmaxBackward(gpu, dlogits, dout, ls, { N, V });
    this.count([dout, ls], [dlogits]);
    if (cfg.entropyBonus !== 0) {
      const dH = this.op(K.mulc, "d_h", N, [g], { c0: -cfg.entropyBonus });
      entropyBackward(gpu, dlogits, dH, logits, lse!, H, { N, V, accumulate: true });
      this.count([dlogits, dH, logits, lse!, H], [dlogits]);
    }
    return { logp, H, ratio: rho, kl, tokenLoss: ell, contribution, dlogp, loss, dlogits };
  }

  release(): void {
    for (const x of this.pool.values()) this.gpu.release(x);
    this.pool.clear();
  }
}

// ---- agreement with the fused head -----------------------------------------------------

export interface Agreement {
  quantity: string;
  /** max |d| / (atol + rtol |fused|) over the compared elements: <= 1 agrees. */
  worst: number;
  ok: boolean;
}

/** fp32 tolerance: atol = 1e-5 * max |fused| of the quantity (its scale), rtol = 1e-4. */
const RTOL = 1e-4, ATOL_REL = 1e-5;

function agree(quantity: string, got: Float32Array, want: Float32Array, keep: (i: number) => boolean): Agreement {
  let scale = 0;
  for (let i = 0; i < want.length; i++) if (keep(i)) scale = Math.max(scale, Math.abs(want[i]!));
  const atol = ATOL_REL * scale || 1e-30;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    if (!keep(i)) continue;
    const w = want[i]!, x = got[i]!;
    if (Number.isNaN(w) && Number.isNaN(x)) continue;
    const e = Math.abs(x - w) / (atol + RTOL * Math.abs(w));
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return { quantity, worst, ok: worst <= 1 };
}

/**
 * Reads both results and compares every quantity the two compute: per token (response
 * tokens only; the fused head writes 0 elsewhere) logp, H, ratio, kl, token loss,
 * contribution, dlogp; the loss; dlogits everywhere.
 */
export async function compareWithFused(gpu: Gpu, runner: StageRunner, fused: StageOutputs, chain: ChainOutputs, dims: ChainDims, tstep: Int32Array): Promise<Agreement[]> {
  const N = dims.B * dims.T;
  const tok = await runner.readTokens(fused, N);
  const inResp = (i: number) => tstep[i]! >= 0;
  const all = () => true;
  const out: Agreement[] = [];
  const pairs: [string, Tensor | null, Float32Array][] = [
    ["logp", chain.logp, tok.logp], ["H", chain.H, tok.H], ["ratio", chain.ratio, tok.ratio],
    ["kl", chain.kl, tok.kl], ["token loss", chain.tokenLoss, tok.tokenLoss],
    ["contribution", chain.contribution, tok.contribution], ["dlogp", chain.dlogp, tok.dlogp],
  ];
  for (const [q, t, want] of pairs) {
    const got = t ? (await gpu.read(t)).subarray(0, N) : new Float32Array(N); // no KL term: 0
    out.push(agree(q, got, want, inResp));
  }
  const loss = (await gpu.read(chain.loss)).subarray(0, 1);
  out.push(agree("loss", loss, Float32Array.of((await runner.readSummary(fused)).loss), all));
  const dl = (await gpu.read(chain.dlogits)).subarray(0, N * dims.V);
  out.push(agree("dlogits", dl, (await gpu.read(fused.dlogits!)).subarray(0, N * dims.V), all));
  return out;
}
