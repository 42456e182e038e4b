// A stage's whole computation as one IR graph: the user's advantage, token weight, mask
// and KL, the clipped surrogate (spec/algorithms.md), the aggregation weights, the total
// loss, and d(loss)/d(logp) and d(loss)/d(H) from the rule table (grad.ts).
//
// Per token t of response i (only response tokens take part; `m` is the stage's mask):
//   A  = detach(advantage),  w = detach(token_weight)       (stop-gradient, as in PPO)
//   log ρ = logp - old_logp  (ratio token)
//         | sum(m (logp - old_logp) over seq) / max(sum(m over seq), 1)   (ratio sequence, GSPO)
//   u  = -min(ρ A, clip(ρ, 1 - eps_low, 1 + eps_high) A)             (loss ppo_clip)
//   dual clip c:  u = A < 0 ? min(u, -c A) : u
//   u  = -detach(clip(ρ, 1 - eps_low, 1 + eps_high)) A logp            (loss cispo)
//   u  = -mean(A over seq) exp(mean(clipped log ρ over seq))           (loss gmpo; see gmpo())
//   ℓ  = w · u + kl - entropy_bonus · H          (the weight scales both branches of the dual clip)
//   contribution = m ? a · ℓ : 0, with a the aggregation weight:
//     token_mean 1/N · seq_mean_token_mean 1/(M n_i) · seq_mean_token_sum 1/M · token_sum_norm 1/(M c)
//     (N = masked-in tokens of the batch, n_i of response i, M = responses in the batch;
//      a = 0 for a response with n_i = 0, so no 0 · inf appears)
//   loss = sum(contribution over batch)
// GSPO's mean runs over the tokens in the loss (masked tokens do not enter the sequence
// ratio, as in TRL's GSPO: (log_ratio * mask).sum / mask.sum().clamp(min=1)).
// Diagnostics beside the loss: klEstimate, the raw KL estimator the `kl` term uses (k1, k2
// or k3; k3 when it uses none or several; NaN without a reference), and klLoss, each
// token's share of the KL term in the loss (m ? a · kl : 0), which sums to the KL term.
import type { NameExpr } from "../ast.js";
import type { Level } from "../levels.js";
import type { Loss, Pipeline, Stage } from "../pipeline.js";
import { gradient } from "./grad.js";
import { Graph } from "./graph.js";
import { Lowering, type Named } from "./lower.js";
import type { Node } from "./ops.js";

/** Token-level results every stage computes, by name (node ids in `graph`). */
export interface TokenOutputs {
  advantage: number;
  weight: number;
  /** The stage's token mask (bool); response membership is implicit. */
  mask: number;
  ratio: number;
  /** ρ < 1 - eps_low with A < 0: the clipped side of the surrogate is taken. */
  clipLow: number;
  /** ρ > 1 + eps_high with A > 0. */
  clipHigh: number;
  /** The dual clip bound -c A is taken (0 when dual clip is off). */
  dual: number;
  kl: number;
  /** The raw KL estimator (k1, k2 or k3 against the reference), NaN without a reference. */
  klEstimate: number;
  /** The token's share of the KL term of the loss: m ? a · kl : 0 (sums to the KL term). */
  klLoss: number;
  /** ℓ before aggregation. */
  tokenLoss: number;
  contribution: number;
  /** d loss / d logp and d loss / d H: the logits gradient is built from these. */
  dlogp: number;
  dH: number;
  logp: number;
  H: number;
}

export interface StageProgram {
  stage: string;
  nodes: Node[];
  tokens: TokenOutputs;
  /** The total loss (batch level). */
  loss: number;
  /** Named values: lets, fn call sites, and `advantage` / `base_advantage`. */
  named: Named[];
  /** Params the graph reads, with their compile-time values. */
  params: Record<string, number>;
  /** Which optional inputs the program reads. */
  uses: { ref: boolean; steps: boolean; position: boolean; rand: boolean; rollout: boolean };
}

export function lowerStage(p: Pipeline, stage: Stage): StageProgram {
  const g = new Graph();
  const low = new Lowering(g, p);
  // Lets first, in declaration order, so their nodes (and names) exist even when unused.
  for (const l of p.lets) low.let(l.name);
  const tok = (x: number) => g.bcast(x, "token");
  const advRaw = low.expr(p.advantage);
  const A = tok(g.detach(g.toNum(advRaw)));
  const w = tok(g.detach(g.toNum(low.expr(stage.tokenWeight))));
  const m = tok(g.detach(low.expr(stage.tokenMask)));
  const logp = g.input("logp");
  const H = g.input("H");
  const loss = p.loss;

  // A constant mask (the default `true`) still needs one element per token to be counted.
  const mNum = g.node(m).op === "const" ? g.binary("mul", g.ones("token"), g.toNum(m)) : g.toNum(m);
  const sur = SURROGATES[loss.kind](g, loss, { logp, old: g.input("old_logp"), A, m, mNum });
  const unweighted = sur.u;
  // Truncated importance sampling (TRL's vllm_importance_sampling_correction, verl's TIS):
  // the sampler's and the trainer's log-probs of the same policy can differ; each token's
  // policy term is reweighted by the capped ratio, a constant to the gradient.
  const tis = loss.tisCap === null ? g.const(1) : g.detach(g.binary("min", g.unary("exp", g.binary("sub", g.input("old_logp"), g.input("rollout_logp"))), g.const(loss.tisCap)));
  const pg = g.binary("mul", g.binary("mul", tis, w), unweighted);
  const kl = stage.kl ? tok(low.expr(stage.kl)) : g.const(0);
  let ell = g.binary("add", pg, kl);
  if (loss.entropyBonus !== 0) ell = g.binary("sub", ell, g.binary("mul", g.const(loss.entropyBonus), H));

  const M = g.reduce("sum", g.ones("sequence"), "batch");
  let agg: number;
  if (loss.aggregate === "token_mean") {
    const N = g.reduce("sum", mNum, "batch");
    agg = g.select(g.binary("gt", N, g.const(0)), g.binary("div", g.const(1), N), g.const(0));
  } else if (loss.aggregate === "seq_mean_token_mean") {
    const n = g.reduce("sum", mNum, "sequence");
    agg = tok(g.select(g.binary("gt", n, g.const(0)), g.binary("div", g.const(1), g.binary("mul", g.bcast(M, "sequence"), n)), g.const(0)));
  } else {
    const denom = loss.aggregate === "seq_mean_token_sum" ? M : g.binary("mul", M, g.const(loss.normConstant ?? 1));
    agg = g.binary("div", g.const(1), denom);
  }
  const contribution = g.select(m, g.binary("mul", tok(agg), ell), g.const(0));
  const total = g.reduce("sum", tok(contribution), "batch");
  const [dlogp, dH] = gradient(g, total, [logp, H]);

  const named = [...low.named];
  named.push({ name: "advantage", kind: "let", node: advRaw, level: g.node(advRaw).level });
  const base = baseAdvantage(g, advRaw);
  if (base !== null) named.push({ name: "base_advantage", kind: "let", node: base, level: g.node(base).level });

  const tokens: TokenOutputs = {
    advantage: A,
    weight: w,
    mask: m,
    ratio: sur.ratio,
    clipLow: sur.clipLow,
    clipHigh: sur.clipHigh,
    dual: sur.dual,
    kl: tok(kl),
    klEstimate: klEstimate(g, low, stage),
    klLoss: g.select(m, g.binary("mul", tok(agg), tok(kl)), g.const(0)),
    tokenLoss: ell,
    contribution,
    dlogp: tok(dlogp!),
    dH: tok(dH!),
    logp,
    H,
  };
  const reads = new Set(g.nodes.filter((n) => n.op === "input").map((n) => (n as { name: string }).name));
  const params: Record<string, number> = {};
  for (const n of g.nodes) if (n.op === "param") params[n.name] = p.params.find((q) => q.name === n.name)!.value;
  return {
    stage: stage.name,
    nodes: g.nodes,
    tokens,
    loss: total,
    named,
    params,
    uses: {
      ref: reads.has("ref_logp"),
      rollout: reads.has("rollout_logp"),
      steps: g.nodes.some((n) => n.level === "step"),
      position: reads.has("position"),
      rand: reads.has("rand"),
    },
  };
}

/** What a surrogate reads: token-level nodes (A and the mask already detached). */
interface SurrogateIn { logp: number; old: number; A: number; m: number; mNum: number }

/** A loss's per-token surrogate u (before the token weight) and its diagnostics. */
interface Surrogate {
  u: number;
  /** The ratio the loss uses, reported as `ratio` (per token, or the response's sequence ratio). */
  ratio: number;
  clipLow: number;
  clipHigh: number;
  dual: number;
}

const SURROGATES: Record<Loss["kind"], (g: Graph, loss: Loss, x: SurrogateIn) => Surrogate> = {
  ppo_clip: ppoClip,
  cispo,
  gmpo,
  sapo,
};

/**
 * SAPO (Gao et al., Soft Adaptive Policy Optimization, arXiv 2511.20347, eqs. 5-6; verl's
 * `sapo` policy loss): the hard clip becomes a smooth gate, u = -f(ρ) A with
 * f(ρ) = σ(τ (ρ - 1)) · 4 / τ, τ = tau_pos where A > 0 and tau_neg elsewhere. At ρ = 1 its
 * slope is 1 (the on-policy gradient); away from 1 the gradient fades smoothly, so nothing
 * is clipped and the clip fractions are 0.
 */
function sapo(g: Graph, loss: Loss, { logp, old, A }: SurrogateIn): Surrogate {
  const rho = g.unary("exp", g.binary("sub", logp, old));
  const tau = g.select(g.binary("gt", A, g.const(0)), g.const(loss.tau!.pos), g.const(loss.tau!.neg));
  const gate = g.binary("mul", g.unary("sigmoid", g.binary("mul", tau, g.binary("sub", rho, g.const(1)))), g.binary("div", g.const(4), tau));
  const no = g.const(0, "bool");
  return { u: g.unary("neg", g.binary("mul", gate, A)), ratio: rho, clipLow: no, clipHigh: no, dual: no };
}

/**
 * PPO-clip: u = -min(ρ A, clip(ρ, 1 - eps_low, 1 + eps_high) A), with the dual clip
 * u = A < 0 ? min(u, -c A) : u. ρ is the token ratio or GSPO's sequence ratio.
 */
function ppoClip(g: Graph, loss: Loss, { logp, old, A, m, mNum }: SurrogateIn): Surrogate {
  const tok = (x: number) => g.bcast(x, "token");
  const logRatioTok = g.binary("sub", logp, old);
  const logRatio = loss.ratio === "sequence" ? tok(sequenceLogRatio(g, logRatioTok, m, mNum)) : logRatioTok;
  const rho = g.unary("exp", logRatio);
  const lo = g.const(1 - loss.epsLow);
  const hi = g.const(1 + loss.epsHigh);
  const surr = g.binary("min", g.binary("mul", rho, A), g.binary("mul", g.binary("min", g.binary("max", rho, lo), hi), A));
  let u = g.unary("neg", surr);
  const negA = g.binary("lt", A, g.const(0));
  let dual = g.const(0, "bool");
  if (loss.dualClip !== null) {
    const bound = g.unary("neg", g.binary("mul", g.const(loss.dualClip), A));
    dual = g.binary("and", negA, g.binary("lt", bound, u));
    u = g.select(negA, g.binary("min", u, bound), u);
  }
  return {
    u,
    ratio: rho,
    clipLow: g.binary("and", g.binary("lt", rho, lo), negA),
    clipHigh: g.binary("and", g.binary("gt", rho, hi), g.binary("gt", A, g.const(0))),
    dual,
  };
}

/**
 * CISPO (MiniMax-M1, arXiv 2506.13585, eqs. 4-5; verl's `cispo` loss): the importance
 * weight is clipped and detached, and the gradient flows through logp alone, so no token
 * loses its gradient: u = -sg(clip(ρ, 1 - eps_low, 1 + eps_high)) · A · logp. The clip
 * fractions count tokens whose weight was capped at each bound, whatever A's sign (the
 * weight scales positive and negative advantages alike).
 */
function cispo(g: Graph, loss: Loss, { logp, old, A }: SurrogateIn): Surrogate {
  const rho = g.unary("exp", g.binary("sub", logp, old));
  const lo = g.const(1 - loss.epsLow);
  const hi = g.const(1 + loss.epsHigh);
  const weight = g.detach(g.binary("min", g.binary("max", rho, lo), hi));
  return {
    u: g.unary("neg", g.binary("mul", g.binary("mul", weight, A), logp)),
    ratio: rho,
    clipLow: g.binary("lt", rho, lo),
    clipHigh: g.binary("gt", rho, hi),
    dual: g.const(0, "bool"),
  };
}

/**
 * GMPO (Zhao et al., arXiv 2507.20673; verl's `geo_mean` loss): each token's log ratio is
 * clipped in log space on the side that bounds the objective, c = min(x, eps_high) for A > 0,
 * max(x, -eps_low) for A < 0, 0 for A = 0 (sgn(A) · min(sgn(A) x, sgn(A) clamp(x))), the
 * response's ratio is their geometric mean s_i = exp(Σ_m c / n_i), and every token of the
 * response carries its objective u = -Ā_i s_i, Ā_i the mean advantage over its tokens in the
 * loss (n_i of them, counted as at least 1). Averaged per response and then over responses
 * (seq_mean_token_mean, the only aggregation the checker accepts), this is verl's
 * torch.mean(-Ā s). The clip fractions count tokens whose clipped side is taken.
 */
function gmpo(g: Graph, loss: Loss, { logp, old, A, m, mNum }: SurrogateIn): Surrogate {
  const tok = (x: number) => g.bcast(x, "token");
  const x = g.binary("sub", logp, old);
  const hi = g.const(loss.epsHigh);
  const lo = g.const(-loss.epsLow);
  const posA = g.binary("gt", A, g.const(0));
  const negA = g.binary("lt", A, g.const(0));
  const c = g.select(posA, g.binary("min", x, hi), g.select(negA, g.binary("max", x, lo), g.const(0)));
  const n = g.binary("max", g.reduce("sum", mNum, "sequence"), g.const(1));
  const inLoss = (v: number) => g.reduce("sum", g.select(m, v, g.const(0)), "sequence");
  const s = g.unary("exp", g.binary("div", inLoss(c), n));
  const meanA = g.binary("div", inLoss(A), n);
  return {
    u: tok(g.unary("neg", g.binary("mul", meanA, s))),
    ratio: tok(s),
    clipLow: g.binary("and", negA, g.binary("lt", x, lo)),
    clipHigh: g.binary("and", posA, g.binary("gt", x, hi)),
    dual: g.const(0, "bool"),
  };
}

/**
 * GSPO's per-response log ratio: the mean of logp - old_logp over the response's tokens in
 * the loss (mask m), 0 for a response with none (TRL clamps the count at 1).
 */
function sequenceLogRatio(g: Graph, logRatioTok: number, m: number, mNum: number): number {
  const inLoss = g.reduce("sum", g.select(m, logRatioTok, g.const(0)), "sequence");
  return g.binary("div", inLoss, g.binary("max", g.reduce("sum", mNum, "sequence"), g.const(1)));
}

/**
 * The raw KL estimator for the `kl` metric: the one the stage's `kl` term uses, k3 (TRL's
 * and verl's low_var_kl) when it uses none or several; NaN when the stage has no reference.
 */
function klEstimate(g: Graph, low: Lowering, stage: Stage): number {
  if (stage.reference.kind === "none") return g.const(NaN);
  const name = stage.klEstimators.length === 1 ? stage.klEstimators[0]! : "k3";
  const e: NameExpr = { kind: "name", name, ref: { kind: "builtin", name }, span: stage.until.span, level: "token", type: "num" };
  return g.bcast(low.expr(e), "token");
}

/**
 * The sequence-level part of the advantage, reported per response as its base advantage:
 * the advantage itself when it is sequence-level or coarser, else the left-most operand
 * of its top-level sum that is (ACPO: A in A + alpha * A * C * w). Null when there is none.
 */
function baseAdvantage(g: Graph, adv: number): number | null {
  const coarse = (l: Level) => l !== "step" && l !== "token";
  let n = g.node(adv);
  if (coarse(n.level)) return n.level === "sequence" ? adv : g.bcast(adv, "sequence");
  for (;;) {
    if (n.op !== "binary" || (n.fn !== "add" && n.fn !== "sub")) return null;
    const left = g.node(n.args[0]);
    const unwrapped = left.op === "bcast" ? g.node(left.args[0]) : left;
    if (coarse(unwrapped.level) && unwrapped.op !== "const") {
      return unwrapped.level === "sequence" ? unwrapped.id : g.bcast(unwrapped.id, "sequence");
    }
    n = left;
  }
}
