// Random well-typed pipelines for the PyTorch back end's differential test: expressions at
// every level with broadcasts and every reduction in the lets, the advantage, the token
// weight and the mask; random loss settings (aggregation rules, token or sequence ratio,
// dual clip, entropy bonus) and a KL term against a reference, so the loss head and its
// autograd derivative are exercised too. (The WGSL test's generator lives in its test
// file; this one adds the loss settings.)
import type { Level } from "../../compiler/levels.js";

const LEAVES: Record<Level, string[]> = {
  scalar: ["0.5", "2", "a", "1e-3"],
  batch: [],
  group: [],
  sequence: ["r", "length"],
  step: ["C", "step_entropy", "step_length", "step_index"],
  token: ["H", "logp", "old_logp", "ref_logp", "position", "rand", "p", "ratio"],
};
const ORDER: Level[] = ["scalar", "batch", "group", "sequence", "step", "token"];
const OVER: Partial<Record<Level, string>> = { batch: "batch", group: "group", sequence: "seq", step: "step" };

type R = () => number;
const pick = <T>(r: R, xs: T[]) => xs[Math.floor(r() * xs.length)]!;

/** A random numeric expression whose level is at most `level` (exactly `level` when `exact`). */
function gen(r: R, level: Level, depth: number, exact = false): string {
  const li = ORDER.indexOf(level);
  const sub = (d = depth - 1) => gen(r, ORDER[Math.floor(r() * (li + 1))]!, d);
  if (depth <= 0 || r() < 0.2) {
    if (exact && level !== "scalar" && level !== "token" && (LEAVES[level].length === 0 || r() < 0.5)) return reduction(r, level, Math.max(depth, 1));
    if (exact || r() < 0.5) {
      const own = LEAVES[level];
      if (own.length > 0) return pick(r, own);
    }
    return pick(r, LEAVES[ORDER[Math.floor(r() * (li + 1))]!].concat(LEAVES.scalar));
  }
  const x = exact ? gen(r, level, depth - 1, true) : sub();
  switch (Math.floor(r() * 8)) {
    case 0: return `(${x} ${pick(r, ["+", "-", "*"])} ${sub()})`;
    case 1: return `(${x} / (abs(${sub()}) + 1))`;
    case 2: return pick(r, [`exp(clip(${x}, -5, 5))`, `tanh(${x})`, `sigmoid(${x})`]);
    case 3: return `(log(abs(${x}) + 1) + sqrt(abs(${x})))`;
    case 4: return `(if ${x} > ${sub()} then ${sub()} else ${x})`;
    case 5: return `${pick(r, ["min", "max"])}(${x}, ${sub()})`;
    case 6: return `((${x}) ^ ${pick(r, ["2", "3"])} / 10)`;
    default: return li > 0 && level !== "token" ? reduction(r, level, depth) : `(-${x})`;
  }
}

function reduction(r: R, level: Level, depth: number): string {
  const finer = ORDER.slice(ORDER.indexOf(level) + 1).filter((l) => l !== "batch" && !(level === "step" && l !== "token"));
  const from = pick(r, finer);
  const x = gen(r, from, depth - 1, true);
  const over = OVER[level]!;
  switch (Math.floor(r() * 7)) {
    case 0: return `mean(${x} over ${over})`;
    case 1: return `sum(${x} over ${over})`;
    case 2: return `std(${x} over ${over}, ${Math.floor(r() * 2)})`;
    case 3: return `min(${x} over ${over})`;
    case 4: return `max(${x} over ${over})`;
    case 5: return `median(${x} over ${over})`;
    default: return `quantile(${x} over ${over}, ${Math.floor(r() * 100) / 100})`;
  }
}

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
