// Random well-typed pipelines for the PyTorch back end's differential test: expressions at
// every level with broadcasts and every reduction in the lets, the advantage, the token
// weight and the mask; random loss settings (aggregation rules, token or sequence ratio,
// dual clip, entropy bonus) and a KL term against a reference, so the loss head and its
// autograd derivative are exercised too. Expressions come from the generator the WGSL
// test uses (test/helpers/random-expr.ts); this file adds the loss settings.
import type { Level } from "../../compiler/levels.js";
import { type Leaves, randomExpr } from "../helpers/random-expr.js";

const LEAVES: Leaves = {
  scalar: ["0.5", "2", "a", "1e-3"],
  batch: [],
  group: [],
  sequence: ["r", "length"],
  step: ["C", "step_entropy", "step_length", "step_index"],
  token: ["H", "logp", "old_logp", "ref_logp", "position", "rand", "p", "ratio"],
};
type R = () => number;
const pick = <T>(r: R, xs: T[]) => xs[Math.floor(r() * xs.length)]!;
const gen = (r: R, level: Level, depth: number, exact = false) => randomExpr(r, LEAVES, level, depth, exact);

/** A random loss line: every aggregation rule, both ratios, optional dual clip and entropy bonus. */
function lossLine(r: R): string {
  const agg = pick(r, ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "token_sum_norm  norm_constant 5"]);
  const dual = r() < 0.5 ? "  dual_clip 3" : "";
  const bonus = r() < 0.5 ? "  entropy_bonus 0.01" : "";
  return `loss ppo_clip { eps_low 0.2  eps_high 0.28  ratio ${pick(r, ["token", "sequence"])}${dual}${bonus}  aggregate ${agg} }`;
}

export function randomProgram(r: R): string {
  // The KL term is differentiable: only linear reductions keep it in the IR's derivative rules.
  const kl = pick(r, ["0.05 * k3", "a * k1 + 0.1 * k2", "0.01 * k3 * mean(logp over seq)"]);
  // `H + …`: a mask that folds to a constant is not what this test is about.
  const mask = r() < 0.5 ? `  token_mask H + ${gen(r, "token", 2)} > ${gen(r, "sequence", 1)}` : "";
  return `pipeline rnd {
  model "m"
  task countdown { numbers 3..4 }
  rollout { prompts 4  group 4  temperature 1.0  max_tokens 16 }
  optimizer adamw { lr 1e-5 }
  segment newline { min_gap 1 }
  attribution loglik { judge policy }
  param a = 0.7
  let xb = ${gen(r, "batch", 3, true)}
  let xg = ${gen(r, "group", 3, true)}
  let xs = ${gen(r, "sequence", 3, true)}
  let xt = ${gen(r, "step", 3, true)}
  advantage = ${gen(r, "token", 3)} + xb + xg + xs + xt
  stage s until steps >= 10 {
    reference initial
    kl ${kl}
    token_weight ${gen(r, "token", 2)}
  ${mask}
  }
  ${lossLine(r)}
}
`;
}
