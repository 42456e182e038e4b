// Running one stage's program on a batch in the interpreter: the reference for the
// compiled kernels (codegen/) and what `acpo replay` reports. Given logits it also forms
// the logits gradient the kernels write:
//   dlogits[n, v] = (dlogp[n] (onehot(ids[n])_v - p_v) + dH[n] (-p_v (log p_v + H[n]))) / T
// with p = softmax(z), z = logits / T the rollout temperature (dH/dz_v = -p_v (log p_v + H),
// dz/dlogits = 1/T); rows outside the response get 0.
import type { StageProgram } from "../ir/stage.js";
import { policyFromLogits, type Batch } from "./batch.js";
import { interpretGraph, isValid, levelSize } from "./eval.js";
import { summarize, type Summary } from "./summary.js";

export interface TokenResult {
  advantage: Float64Array;
  weight: Float64Array;
  mask: Float64Array;
  ratio: Float64Array;
  clipLow: Float64Array;
  clipHigh: Float64Array;
  dual: Float64Array;
  kl: Float64Array;
  klEstimate: Float64Array;
  klLoss: Float64Array;
  tokenLoss: Float64Array;
  contribution: Float64Array;
  dlogp: Float64Array;
  dH: Float64Array;
  logp: Float64Array;
  H: Float64Array;
}

export interface StageResult {
  loss: number;
  tokens: TokenResult; // each (B*T); 0 outside the response
  /** Named values at their levels (group, sequence, step, batch, scalar). */
  named: { name: string; level: string; values: Float64Array }[];
  dlogits: Float64Array | null; // (B*T, V) when the batch has logits
  summary: Summary;
}

export interface InterpretOptions {
  params?: Record<string, number>;
  /** Stop-gradient values from another run (see EvalEnv.frozen); for finite differences. */
  frozen?: Float64Array[];
}

export function interpretStage(prog: StageProgram, b: Batch, opts: InterpretOptions = {}): StageResult & { values: Float64Array[] } {
  const N = b.B * b.T;
  let logp: Float64Array;
  let H: Float64Array;
  if (b.logits) ({ logp, H } = policyFromLogits(b.logits, b.ids, N, b.V, b.temperature));
  else {
    logp = b.logp!;
    H = b.H!;
  }
  const vals = interpretGraph(prog.nodes, b, { params: { ...prog.params, ...opts.params }, logp, H, frozen: opts.frozen });
  const tok = (id: number) => {
    const v = vals[id]!;
    const out = new Float64Array(N);
    for (let n = 0; n < N; n++) if (isValid(b, "token", n)) out[n] = v.length === 1 ? v[0]! : v[n]!;
    return out;
  };
  const t = prog.tokens;
  const tokens: TokenResult = {
    advantage: tok(t.advantage), weight: tok(t.weight), mask: tok(t.mask), ratio: tok(t.ratio),
    clipLow: tok(t.clipLow), clipHigh: tok(t.clipHigh), dual: tok(t.dual), kl: tok(t.kl),
    klEstimate: tok(t.klEstimate), klLoss: tok(t.klLoss),
    tokenLoss: tok(t.tokenLoss), contribution: tok(t.contribution), dlogp: tok(t.dlogp), dH: tok(t.dH),
    logp: tok(t.logp), H: tok(t.H),
  };
  const named = prog.named
    .filter((x) => x.level !== "token")
    .map((x) => {
      const v = vals[x.node]!;
      const size = levelSize(b, x.level);
      return { name: x.name, level: x.level, values: v.length === size ? v : new Float64Array(size).fill(v[0]!) };
    });
  let dlogits: Float64Array | null = null;
  if (b.logits) {
    const V = b.V;
    dlogits = new Float64Array(N * V);
    const { lse } = policyFromLogits(b.logits, b.ids, N, V, b.temperature);
    const inv = 1 / b.temperature;
    for (let n = 0; n < N; n++) {
      if (!isValid(b, "token", n)) continue;
      for (let v = 0; v < V; v++) {
        const lp = b.logits[n * V + v]! * inv - lse[n]!;
        const p = Math.exp(lp);
        const ent = p > 0 ? tokens.dH[n]! * (-p * (lp + H[n]!)) : 0;
        dlogits[n * V + v] = (tokens.dlogp[n]! * ((v === b.ids[n] ? 1 : 0) - p) + ent) * inv;
      }
    }
  }
  const loss = vals[prog.loss]![0]!;
  return { loss, tokens, named, dlogits, summary: summarize(tokens, b, loss), values: vals };
}
