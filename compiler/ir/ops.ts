// The back end's IR: a small set of ops over values that live at one granularity level
// (scalar, batch, group, sequence, step, token). A program is a DAG of nodes, hash-consed
// so a shared subexpression (a `let`, a repeated `mean(r over group)`) is one node.
// The interpreter (compiler/interpret/) defines what each op means over a batch; the code
// generator (compiler/codegen/) must agree with it. Values are numbers; booleans are 0/1
// numbers with type "bool".
//
// Every elementwise op takes its arguments at its own level: a coarser argument is first
// lifted by an explicit `bcast`, so each node reads exactly one element per argument.
// The one exception is `const`: a literal is the same at every level and stays scalar.
import type { Level } from "../levels.js";

export type VType = "num" | "bool";

/** Built-in inputs the interpreter and the kernels read, with their levels. */
export const INPUTS = {
  logp: "token", //         log p(sampled token) under the current policy (differentiable leaf)
  H: "token", //            entropy of the current policy's next-token distribution (differentiable leaf)
  old_logp: "token", //     log p under the policy that sampled the batch
  ref_logp: "token", //     log p under the stage's reference policy
  rollout_logp: "token", // log p the sampler recorded when it drew the token (the inference engine's)
  position: "token", //     0-based index of the token in its response
  rand: "token", //         uniform [0, 1) per token from the stage's seed (see interpret/rand.ts)
  C: "step", //             attribution score of the step
  step_index: "step", //    0-based step index in its response
  step_length: "step", //   tokens in the step
  step_entropy: "step", //  mean rollout entropy over the step's tokens
  step_reward: "step", //   the task's step checker's reward for the step (1 valid, 0 not)
  mc_value: "step", //      Monte-Carlo value of the step's start (mean reward of K continuations)
  mc_next: "step", //       mc_value of the next step; the response's reward for the last step
  judge_score: "step", //   log p_judge(verdict | prompt, response up to the step's end, question) (normalised against `against` when given)
  r: "sequence", //         reward
  correct: "sequence", //   verifier accepted (bool)
  format: "sequence", //    verifier's format check: 1 when the response has a complete answer (number 0/1)
  length: "sequence", //    tokens in the response
  steps: "scalar", //       optimizer steps taken in this stage
  total_steps: "scalar", // optimizer steps taken in the run
} as const satisfies Record<string, Level>;
export type InputName = keyof typeof INPUTS;

export const UNARY = {
  neg: "-x",
  not: "logical not (bool -> bool)",
  abs: "|x|",
  exp: "e^x",
  log: "natural log",
  sqrt: "square root",
  sigmoid: "1 / (1 + e^-x)",
  tanh: "hyperbolic tangent",
  floor: "largest integer <= x (piecewise constant: zero derivative)",
} as const;
export type UnaryFn = keyof typeof UNARY;

export const BINARY = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  pow: "a ^ b",
  min: "elementwise min (NaN if either is NaN)",
  max: "elementwise max (NaN if either is NaN)",
  lt: "a < b (bool)",
  le: "a <= b (bool)",
  gt: "a > b (bool)",
  ge: "a >= b (bool)",
  eq: "a == b (bool)",
  ne: "a != b (bool)",
  and: "logical and (bool)",
  or: "logical or (bool)",
} as const;
export type BinaryFn = keyof typeof BINARY;

export const REDUCE = {
  sum: "sum over the unit's elements (0 when empty)",
  mean: "arithmetic mean (NaN when empty)",
  min: "smallest element (NaN when empty or any NaN)",
  max: "largest element (NaN when empty or any NaN)",
  std: "standard deviation with `ddof` (0 population, 1 sample); NaN when n - ddof <= 0 and n = 0",
  quantile: "q-quantile (args[1], scalar): linear interpolation at q*(n-1) of the sorted values, NaN sorted last",
} as const;
export type ReduceFn = keyof typeof REDUCE;

export const SCAN = {
  prefix: "discounted cumulative sum along each response: y_t = sum over valid k <= t of gamma^(t-k) x_k (cumsum)",
  suffix: "discounted suffix sum along each response: y_t = sum over valid k >= t of gamma^(k-t) x_k (reward-to-go)",
} as const;
export type ScanFn = keyof typeof SCAN;

/**
 * One IR node. `args` are node ids (always smaller than the node's own id: the node list
 * is in topological order). `pdep`: depends on the current policy (logp or H) without a
 * `detach` in between, i.e. the loss's gradient may flow through it.
 */
export type Node = { id: number; level: Level; type: VType; pdep: boolean } & (
  | { op: "const"; value: number } //                    a literal; level scalar
  | { op: "param"; name: string } //                     a named param, scalar (a uniform: --set needs no recompile)
  | { op: "input"; name: InputName } //                  a built-in input at its level (INPUTS)
  | { op: "unary"; fn: UnaryFn; args: [number] } //      elementwise f(x)
  | { op: "binary"; fn: BinaryFn; args: [number, number] } // elementwise f(a, b)
  | { op: "select"; args: [number, number, number] } //  c ? a : b, elementwise
  | { op: "bcast"; args: [number] } //                   a coarser value repeated at each element of `level` it contains
  | { op: "reduce"; fn: ReduceFn; ddof: number; args: [number] | [number, number] } // x over each unit of `level`
  | { op: "detach"; args: [number] } //                  x, with zero derivative (stop-gradient)
  // A scan along each response (unit: the sequence) of a token- or step-level x, at x's level;
  // args[1] is the discount gamma, a scalar. The exponent counts valid elements only (response
  // tokens, used steps); values at invalid elements are computed but never observed.
  | { op: "scan"; fn: ScanFn; args: [number, number] }
);

export type NodeOf<K extends Node["op"]> = Extract<Node, { op: K }>;

/** Argument ids of any node (empty for leaves). */
export function argsOf(n: Node): readonly number[] {
  return "args" in n ? n.args : [];
}

/** One-line text of a node, for debugging and the plan's readable IR. */
export function showNode(n: Node): string {
  const a = argsOf(n).map((x) => `%${x}`).join(", ");
  const head = `%${n.id}: ${n.type}@${n.level} =`;
  switch (n.op) {
    case "const": return `${head} const ${n.value}`;
    case "param": return `${head} param ${n.name}`;
    case "input": return `${head} input ${n.name}`;
    case "unary":
    case "binary": return `${head} ${n.fn}(${a})`;
    case "reduce": return `${head} reduce.${n.fn}${n.fn === "std" ? `[ddof=${n.ddof}]` : ""}(${a})`;
    case "scan": return `${head} scan.${n.fn}(${a})`;
    default: return `${head} ${n.op}(${a})`;
  }
}
