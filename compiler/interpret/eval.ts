// The IR interpreter: the definition of what every op means over a batch, and the oracle
// the generated WGSL is tested against. Plain loops, float64.
//
// Each node evaluates to one array over the elements of its level:
//   scalar, batch: 1 · group: nGroups · sequence: B · step: B*S · token: B*T.
// Element e of a finer level lies in exactly one unit of each coarser level (token n:
// response n / T, step b*S + stepIdx[n], group group[b]); `bcast` reads that unit.
// Reductions visit only valid elements: response tokens (stepIdx >= 0), steps with
// stepLength > 0, every response and group. Values at invalid elements are computed but
// never observed. Bool values are 0/1.
import type { Level } from "../levels.js";
import { binaryValue, unaryValue } from "../ir/fold.js";
import type { InputName, Node } from "../ir/ops.js";
import type { Batch } from "./batch.js";
import { randAt } from "./rand.js";

export function levelSize(b: Batch, l: Level): number {
  switch (l) {
    case "scalar":
    case "batch": return 1;
    case "group": return b.nGroups;
    case "sequence": return b.B;
    case "step": return b.B * b.S;
    case "token": return b.B * b.T;
  }
}

/** Index of the unit of level `to` (coarser) that element `e` of level `from` lies in; -1 if none. */
export function parentIndex(b: Batch, from: Level, e: number, to: Level): number {
  if (to === "scalar" || to === "batch") return 0;
  if (from === to) return e;
  if (from === "token") {
    const seq = Math.floor(e / b.T);
    if (to === "sequence") return seq;
    if (to === "step") {
      const s = b.stepIdx[e]!;
      return s < 0 ? -1 : seq * b.S + s;
    }
    return b.group[seq]!;
  }
  if (from === "step") {
    const seq = Math.floor(e / b.S);
    return to === "sequence" ? seq : b.group[seq]!;
  }
  if (from === "sequence") return b.group[e]!;
  throw new Error(`IR: no unit of ${to} above ${from}`);
}

export function isValid(b: Batch, l: Level, e: number): boolean {
  if (l === "token") return b.stepIdx[e]! >= 0;
  if (l === "step") return b.stepLength[e]! > 0;
  return true;
}

export interface EvalEnv {
  params: Record<string, number>;
  /** The current policy's per-token log p and entropy (B*T). */
  logp: Float64Array;
  H: Float64Array;
  /**
   * Values to use for `detach` nodes instead of evaluating them: the stop-gradient values
   * of a base point, so finite differences of the loss see what the derivative sees.
   */
  frozen?: Float64Array[];
}

/** Values of every node of `nodes` (in order) over the batch. */
export function interpretGraph(nodes: readonly Node[], b: Batch, env: EvalEnv): Float64Array[] {
  const vals: Float64Array[] = [];
  for (const n of nodes) vals.push(evalNode(n, nodes, vals, b, env));
  return vals;
}

function evalNode(n: Node, nodes: readonly Node[], vals: Float64Array[], b: Batch, env: EvalEnv): Float64Array {
  const size = levelSize(b, n.level);
  const out = new Float64Array(size);
  // Constants are level-free: read element 0 of a length-1 array.
  const at = (id: number, e: number) => {
    const a = vals[id]!;
    return a.length === 1 ? a[0]! : a[e]!;
  };
  switch (n.op) {
    case "const":
      out[0] = n.value;
      return out;
    case "param": {
      const v = env.params[n.name];
      if (v === undefined) throw new Error(`IR: no value for param ${n.name}`);
      out[0] = v;
      return out;
    }
    case "input":
      return input(n.name, b, env);
    case "unary":
      for (let e = 0; e < size; e++) out[e] = unaryValue(n.fn, at(n.args[0], e));
      return out;
    case "binary":
      for (let e = 0; e < size; e++) out[e] = binaryValue(n.fn, at(n.args[0], e), at(n.args[1], e));
      return out;
    case "select":
      for (let e = 0; e < size; e++) out[e] = at(n.args[0], e) !== 0 ? at(n.args[1], e) : at(n.args[2], e);
      return out;
    case "detach":
      return env.frozen?.[n.id] ?? vals[n.args[0]]!;
    case "bcast": {
      const src = vals[n.args[0]]!;
      const from = nodes[n.args[0]]!.level;
      for (let e = 0; e < size; e++) {
        const p = parentIndex(b, n.level, e, from);
        out[e] = p < 0 ? NaN : src[p]!;
      }
      return out;
    }
    case "reduce":
      return reduce(n, nodes[n.args[0]]!.level, vals, b);
    case "scan":
      return scan(n, vals, b);
  }
}

function input(name: InputName, b: Batch, env: EvalEnv): Float64Array {
  const N = b.B * b.T;
  switch (name) {
    case "logp": return env.logp;
    case "H": return env.H;
    case "old_logp": return b.oldLogp;
    case "rollout_logp": {
      if (!b.rolloutLogp) throw new Error("batch: the stage reads rollout_logp, but the batch has no rollout log-probs");
      return b.rolloutLogp;
    }
    case "ref_logp": {
      if (!b.refLogp) throw new Error("batch: the stage compares with a reference policy, but the batch has no ref_logp");
      return b.refLogp;
    }
    case "position": {
      const out = new Float64Array(N);
      for (let i = 0; i < b.B; i++) {
        let k = 0;
        for (let t = 0; t < b.T; t++) {
          const n = i * b.T + t;
          out[n] = k;
          if (b.stepIdx[n]! >= 0) k++;
        }
      }
      return out;
    }
    case "rand": {
      const out = new Float64Array(N);
      for (let n = 0; n < N; n++) out[n] = randAt(b.seed, n);
      return out;
    }
    case "C": return b.C;
    case "step_length": return b.stepLength;
    case "step_entropy": return b.stepEntropy;
    case "step_reward": {
      if (!b.stepReward) throw new Error("batch: the stage reads step_reward, but the batch has no step rewards");
      return b.stepReward;
    }
    case "mc_value":
    case "mc_next": {
      const v = name === "mc_value" ? b.mcValue : b.mcNext;
      if (!v) throw new Error(`batch: the stage reads ${name}, but the batch has no Monte-Carlo values`);
      return v;
    }
    case "judge_score": {
      if (!b.judgeScore) throw new Error("batch: the stage reads judge_score, but the batch has no judge scores");
      return b.judgeScore;
    }
    case "step_index": {
      const out = new Float64Array(b.B * b.S);
      for (let j = 0; j < out.length; j++) out[j] = j % b.S;
      return out;
    }
    case "r": return b.reward;
    case "correct": return b.correct;
    case "format": return b.format;
    case "length": return b.length;
    case "steps": return Float64Array.of(b.steps);
    case "total_steps": return Float64Array.of(b.totalSteps);
  }
}

function reduce(n: Extract<Node, { op: "reduce" }>, from: Level, vals: Float64Array[], b: Batch): Float64Array {
  const x = vals[n.args[0]]!;
  const units: number[][] = Array.from({ length: levelSize(b, n.level) }, () => []);
  for (let e = 0; e < x.length; e++) {
    if (!isValid(b, from, e)) continue;
    const u = parentIndex(b, from, e, n.level);
    if (u >= 0) units[u]!.push(x[e]!);
  }
  const q = n.args[1] === undefined ? 0 : vals[n.args[1]]![0]!;
  return Float64Array.from(units, (xs) => reduceValues(n.fn, xs, n.ddof, q));
}

/**
 * A discounted prefix or suffix sum along each response: the recurrence acc = gamma * acc + x
 * over the response's valid elements in order (prefix) or in reverse (suffix). An invalid
 * element holds the running value (never observed).
 */
function scan(n: Extract<Node, { op: "scan" }>, vals: Float64Array[], b: Batch): Float64Array {
  const x = vals[n.args[0]]!;
  const gamma = vals[n.args[1]]![0]!;
  const per = n.level === "token" ? b.T : b.S;
  const out = new Float64Array(b.B * per);
  for (let i = 0; i < b.B; i++) {
    let acc = 0;
    for (let j = 0; j < per; j++) {
      const e = i * per + (n.fn === "prefix" ? j : per - 1 - j);
      if (isValid(b, n.level, e)) acc = gamma * acc + (x.length === 1 ? x[0]! : x[e]!);
      out[e] = acc;
    }
  }
  return out;
}

export function reduceValues(fn: string, xs: number[], ddof: number, q: number): number {
  const k = xs.length;
  switch (fn) {
    case "sum": return xs.reduce((a, v) => a + v, 0);
    case "mean": return k === 0 ? NaN : xs.reduce((a, v) => a + v, 0) / k;
    case "min": return k === 0 || xs.some(Number.isNaN) ? NaN : Math.min(...xs);
    case "max": return k === 0 || xs.some(Number.isNaN) ? NaN : Math.max(...xs);
    case "std": {
      if (k === 0) return NaN;
      const mu = xs.reduce((a, v) => a + v, 0) / k;
      const ss = xs.reduce((a, v) => a + (v - mu) * (v - mu), 0);
      return Math.sqrt(ss / (k - ddof));
    }
    case "quantile": {
      if (k === 0) return NaN;
      const s = [...xs].sort((a, c) => (Number.isNaN(a) ? 1 : 0) - (Number.isNaN(c) ? 1 : 0) || a - c);
      return quantileSorted(s, q);
    }
  }
  throw new Error(`IR: unknown reduction ${fn}`);
}

/** Linear interpolation at q*(n-1) between the sorted values around it. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(Math.ceil(pos), s.length - 1);
  if (hi === lo) return s[lo]!;
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
