// IR nodes to PyTorch: the second back end (the first is codegen/, WGSL). The same graph
// the kernels are generated from becomes one Python function per entry point, one
// statement per node, in the graph's topological order. Meaning comes from the float64
// interpreter (compiler/interpret/eval.ts); the runtime module acpo_ir.py (beside this
// file, copied next to every generated module) holds the layout, broadcasts and segmented
// reductions, so the generated code is flat and readable.
//
// Only the cone of the requested outputs is emitted. `provided` nodes are read from the
// caller's inputs instead of being computed (the exported policy loss takes the
// advantage from verl's estimator this way), and their cones are not emitted.
import type { Level } from "../levels.js";
import type { BinaryFn, Node, UnaryFn } from "../ir/ops.js";
import { argsOf } from "../ir/ops.js";

export interface TorchFunction {
  /** Python function name. */
  name: string;
  nodes: readonly Node[];
  /** Output key -> node id. */
  outputs: Record<string, number>;
  /** Node id -> input key: values the caller passes instead of the node's cone. */
  provided?: Record<number, string>;
  /** Docstring lines. */
  doc?: string[];
}

const INPUT_EXPR: Record<string, string> = {
  logp: 'x["logp"]',
  H: 'x["H"]',
  old_logp: 'x["old_logp"]',
  ref_logp: 'x["ref_logp"]',
  rollout_logp: 'x["rollout_logp"]',
  position: "L.position()",
  rand: 'L.rand(x["seed"])',
  C: 'x["C"]',
  step_index: "L.step_index()",
  step_length: 'x["step_length"]',
  step_entropy: 'x["step_entropy"]',
  step_reward: 'x["step_reward"]',
  mc_value: 'x["mc_value"]',
  mc_next: 'x["mc_next"]',
  judge_score: 'x["judge_score"]',
  r: 'x["r"]',
  correct: 'x["correct"]',
  format: 'x["format"]',
  length: 'x["length"]',
  steps: 'L.scalar(x["steps"])',
  total_steps: 'L.scalar(x["total_steps"])',
};

// Typed by the op sets, so an op added to ops.ts fails to compile here until it has a rule.
const UNARY_EXPR: Record<UnaryFn, (a: string) => string> = {
  neg: (a) => `-${a}`,
  not: (a) => `L.num(${a} == 0)`,
  abs: (a) => `torch.abs(${a})`,
  exp: (a) => `torch.exp(${a})`,
  log: (a) => `torch.log(${a})`,
  sqrt: (a) => `torch.sqrt(${a})`,
  sigmoid: (a) => `vsigmoid(${a})`,
  tanh: (a) => `torch.tanh(${a})`,
  floor: (a) => `torch.floor(${a})`,
};

const BINARY_EXPR: Record<BinaryFn, (a: string, b: string) => string> = {
  add: (a, b) => `${a} + ${b}`,
  sub: (a, b) => `${a} - ${b}`,
  mul: (a, b) => `${a} * ${b}`,
  div: (a, b) => `${a} / ${b}`,
  pow: (a, b) => `vpow(${a}, ${b})`,
  min: (a, b) => `vmin(${a}, ${b})`,
  max: (a, b) => `vmax(${a}, ${b})`,
  lt: (a, b) => `L.num(${a} < ${b})`,
  le: (a, b) => `L.num(${a} <= ${b})`,
  gt: (a, b) => `L.num(${a} > ${b})`,
  ge: (a, b) => `L.num(${a} >= ${b})`,
  eq: (a, b) => `L.num(${a} == ${b})`,
  ne: (a, b) => `L.num(${a} != ${b})`,
  and: (a, b) => `L.num((${a} != 0) & (${b} != 0))`,
  or: (a, b) => `L.num((${a} != 0) | (${b} != 0))`,
};

/** A float as a Python literal (repr-exact: JavaScript's shortest round-trip form). */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'float("nan")';
  if (v === Infinity) return 'float("inf")';
  if (v === -Infinity) return 'float("-inf")';
  if (Object.is(v, -0)) return "-0.0";
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** A Python string literal (JSON's escapes are valid Python). */
export function pyString(s: string): string {
  return JSON.stringify(s);
}

/** Ids of the nodes the outputs need, stopping at provided nodes. */
export function cone(nodes: readonly Node[], roots: number[], provided: Record<number, string>): Set<number> {
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    if (id in provided) continue;
    stack.push(...argsOf(nodes[id]!));
  }
  return seen;
}

const LEVEL_SHAPE: Record<Level, string> = {
  scalar: "()", batch: "()", group: "(G,)", sequence: "(B,)", step: "(B, S)", token: "(B, T)",
};

/** The Python statement computing node `n` into `v<id>`. */
function statement(n: Node, nodes: readonly Node[]): string {
  const v = (id: number) => `v${id}`;
  const lhs = `v${n.id}`;
  const shape = `  # ${n.type}@${n.level} ${LEVEL_SHAPE[n.level]}`;
  switch (n.op) {
    case "const": return `${lhs} = L.scalar(${pyFloat(n.value)})${shape}`;
    case "param": return `${lhs} = L.scalar(params[${pyString(n.name)}])${shape}`;
    case "input": return `${lhs} = ${INPUT_EXPR[n.name]}${shape}`;
    case "unary": return `${lhs} = ${UNARY_EXPR[n.fn](v(n.args[0]))}${shape}`;
    case "binary": return `${lhs} = ${BINARY_EXPR[n.fn](v(n.args[0]), v(n.args[1]))}${shape}`;
    case "select": return `${lhs} = vsel(${n.args.map(v).join(", ")})${shape}`;
    case "detach": return `${lhs} = ${v(n.args[0])}.detach()${shape}`;
    case "bcast": return `${lhs} = L.bcast(${v(n.args[0])}, ${pyString(nodes[n.args[0]]!.level)}, ${pyString(n.level)})${shape}`;
    case "reduce": {
      const from = pyString(nodes[n.args[0]]!.level);
      const extra = n.fn === "quantile" ? `, q=${v(n.args[1]!)}` : n.fn === "std" ? `, ddof=${n.ddof}` : "";
      return `${lhs} = L.reduce(${pyString(n.fn)}, ${v(n.args[0])}, ${from}, ${pyString(n.level)}${extra})${shape}`;
    }
    case "scan": return `${lhs} = L.scan(${v(n.args[0])}, ${pyString(n.level)}, ${v(n.args[1])}, reverse=${n.fn === "suffix" ? "True" : "False"})${shape}`;
  }
}

/** One Python function: `def name(x, params)` returning a dict of the outputs. */
export function emitFunction(f: TorchFunction): string {
  const provided = f.provided ?? {};
  const ids = [...cone(f.nodes, Object.values(f.outputs), provided)].sort((a, b) => a - b);
  const body: string[] = ["L = Layout(x)"];
  for (const id of ids) {
    const n = f.nodes[id]!;
    if (id in provided) body.push(`v${id} = x[${pyString(provided[id]!)}]  # provided: ${n.type}@${n.level} ${LEVEL_SHAPE[n.level]}`);
    else body.push(statement(n, f.nodes));
  }
  const outs = Object.entries(f.outputs).map(([k, id]) => `${pyString(k)}: v${id}`);
  body.push(`return {${outs.join(", ")}}`);
  const doc = f.doc && f.doc.length > 0 ? [`"""${f.doc.join("\n    ")}"""`] : [];
  return [`def ${f.name}(x, params):`, ...[...doc, ...body].map((l) => `    ${l}`)].join("\n");
}

/** A whole module: header comment, imports of the runtime, and the functions. */
export function emitModule(header: string[], fns: TorchFunction[], extra: string[] = []): string {
  return [
    ...header.map((h) => `# ${h}`),
    "import torch",
    "",
    "from .acpo_ir import Layout, vmax, vmin, vpow, vsel, vsigmoid  # noqa: F401",
    "",
    ...extra,
    ...fns.flatMap((f) => ["", emitFunction(f), ""]),
  ].join("\n");
}
