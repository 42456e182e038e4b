// A stage's whole computation as one IR graph: the user's advantage, token weight, mask
// and KL, the clipped surrogate (spec/algorithms.md), the aggregation weights, the total
// loss, and d(loss)/d(logp) and d(loss)/d(H) from the rule table (grad.ts).
//
// Per token t of response i (only response tokens take part; `m` is the stage's mask):
//   A  = detach(advantage),  w = detach(token_weight)       (stop-gradient, as in PPO)
//   log ρ = logp - old_logp  (ratio token)
//         | sum(m (logp - old_logp) over seq) / max(sum(m over seq), 1)   (ratio sequence, GSPO)
//   u  = -min(ρ A, clip(ρ, 1 - eps_low, 1 + eps_high) A)
//   dual clip c:  u = A < 0 ? min(u, -c A) : u
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
import type { Pipeline, Stage } from "../pipeline.js";
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
  uses: { ref: boolean; steps: boolean; position: boolean; rand: boolean };
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
  const logRatioTok = g.binary("sub", logp, g.input("old_logp"));
  const logRatio = loss.ratio === "sequence" ? tok(sequenceLogRatio(g, logRatioTok, m, mNum)) : logRatioTok;
  const rho = g.unary("exp", logRatio);
  const lo = g.const(1 - loss.epsLow);
  const hi = g.const(1 + loss.epsHigh);
  const surr = g.binary("min", g.binary("mul", rho, A), g.binary("mul", g.binary("min", g.binary("max", rho, lo), hi), A));
  let unweighted = g.unary("neg", surr);
  const negA = g.binary("lt", A, g.const(0));
  let dual = g.const(0, "bool");
  if (loss.dualClip !== null) {
    const bound = g.unary("neg", g.binary("mul", g.const(loss.dualClip), A));
    dual = g.binary("and", negA, g.binary("lt", bound, unweighted));
    unweighted = g.select(negA, g.binary("min", unweighted, bound), unweighted);
  }
  const pg = g.binary("mul", w, unweighted);
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
    ratio: rho,
    clipLow: g.binary("and", g.binary("lt", rho, lo), negA),
    clipHigh: g.binary("and", g.binary("gt", rho, hi), g.binary("gt", A, g.const(0))),
    dual,
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
      steps: g.nodes.some((n) => n.level === "step"),
      position: reads.has("position"),
      rand: reads.has("rand"),
    },
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
