// IR nodes to WGSL statements. An expression is evaluated at one element of a level (a
// token, a step, ...): the element's index and the indices of the units above it are in
// scope (i_token, i_step, i_seq, i_group), every node in the cone becomes one `let`, and
// materialized values are read from `stats`. The same function serves reductions (their
// argument at each element), the values kernel and the loss head.
import type { Level } from "../levels.js";
import type { Node } from "../ir/ops.js";
import { f32Literal } from "./wgsl-lib.js";
import { seqRead, stepRead } from "./layout.js";

export interface EmitContext {
  nodes: readonly Node[];
  /** Level of the element being evaluated; coarser values use its units' indices. */
  level: Level;
  /** Offsets in `stats` (coefficients of NG, B, B*S, 1) of the values readable here. */
  stats: Map<number, [number, number, number, number]>;
  /** Where logp and H come from at a token: registers of the loss head, or the `pol` buffer. */
  policy: "registers" | "buffer";
}

/** WGSL lines that bring the element `e` of `level` and its units into scope. */
export function indexPrelude(level: Level): string[] {
  switch (level) {
    case "token":
      return ["let i_token = e;", "let i_seq = e / u.T;", "let i_step = i_seq * u.S + u32(max(tstep[e], 0));", "let i_group = group_of(i_seq);"];
    case "step":
      return ["let i_step = e;", "let i_seq = e / u.S;", "let i_group = group_of(i_seq);"];
    case "sequence":
      return ["let i_seq = e;", "let i_group = group_of(i_seq);"];
    case "group":
      return ["let i_group = e;"];
    default:
      return [];
  }
}

export function indexVar(l: Level): string {
  switch (l) {
    case "token": return "i_token";
    case "step": return "i_step";
    case "sequence": return "i_seq";
    case "group": return "i_group";
    default: return "0u";
  }
}

export function offsetExpr(c: readonly number[]): string {
  const terms: string[] = [];
  const [g, b, s, one] = c as [number, number, number, number];
  if (g) terms.push(`${g}u * u.NG`);
  if (b) terms.push(`${b}u * u.B`);
  if (s) terms.push(`${s}u * u.B * u.S`);
  if (one || terms.length === 0) terms.push(`${one}u`);
  return terms.join(" + ");
}

const INPUT_READ: Record<string, (policy: EmitContext["policy"]) => string> = {
  logp: (p) => (p === "registers" ? "row_logp" : "pol[2u * i_token]"),
  H: (p) => (p === "registers" ? "row_H" : "pol[2u * i_token + 1u]"),
  old_logp: () => "old_logp[i_token]",
  ref_logp: () => "ref_logp[i_token]",
  rollout_logp: () => "rollout_logp[i_token]",
  position: () => "position_of(i_token)",
  rand: () => "rand_at(u.seed, i_token)",
  C: () => stepRead("i_step", "C"),
  step_length: () => stepRead("i_step", "length"),
  step_entropy: () => stepRead("i_step", "entropy"),
  step_reward: () => stepRead("i_step", "reward"),
  mc_value: () => stepRead("i_step", "mcValue"),
  mc_next: () => stepRead("i_step", "mcNext"),
  judge_score: () => stepRead("i_step", "judge"),
  step_index: () => "f32(i_step % u.S)",
  r: () => seqRead("i_seq", "r"),
  correct: () => `(${seqRead("i_seq", "correct")} != 0.0)`,
  length: () => seqRead("i_seq", "length"),
  format: () => seqRead("i_seq", "format"),
  steps: () => "u.steps",
  total_steps: () => "u.total_steps",
};

const BIN_OP: Record<string, string> = { add: "+", sub: "-", mul: "*", div: "/", lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=", and: "&&", or: "||" };

/**
 * Emit the cone of `roots` in context `ctx`: returns the statements and the WGSL
 * expression of every emitted node. `done` carries names already in scope (shared lets).
 */
export function emitCone(ctx: EmitContext, roots: number[], done: Map<number, string> = new Map()): { lines: string[]; names: Map<number, string> } {
  const lines: string[] = [];
  // A node's arguments that are emitted before it (none when it is read from stats).
  const argsOf = (id: number): readonly number[] => {
    const n = ctx.nodes[id]!;
    const off = ctx.stats.get(id);
    if ((off && n.level !== "token") || !("args" in n) || n.op === "reduce") return [];
    // A scan evaluates its argument inside its own loop (scanLines); only the discount is outside.
    if (n.op === "scan") return [n.args[1]];
    return n.args;
  };
  // Post-order with an explicit stack, arguments in order, so a chain of 10,000 `+` costs no
  // stack; the statements come out in the order a recursive walk gives.
  const visit = (root: number): string => {
    const stack = [root];
    while (stack.length) {
      const id = stack[stack.length - 1]!;
      if (done.has(id)) stack.pop();
      else {
        const unemitted = argsOf(id).filter((a) => !done.has(a));
        if (unemitted.length) for (let i = unemitted.length - 1; i >= 0; i--) stack.push(unemitted[i]!);
        else emitNode(stack.pop()!);
      }
    }
    return done.get(root)!;
  };
  const emitNode = (id: number): void => {
    const visit = (a: number): string => done.get(a)!;
    const n = ctx.nodes[id]!;
    let expr: string;
    let alias = false;
    const off = ctx.stats.get(id);
    if (off && n.level !== "token") {
      expr = `stats[${offsetExpr(off)} + ${indexVar(n.level)}]`;
      if (n.type === "bool") expr = `(${expr} != 0.0)`;
    } else {
      switch (n.op) {
        case "const":
          expr = n.type === "bool" ? (n.value !== 0 ? "true" : "false") : f32Literal(n.value);
          alias = true;
          break;
        case "param":
          expr = `u.p_${n.name}`;
          alias = true;
          break;
        case "input":
          expr = INPUT_READ[n.name]!(ctx.policy);
          break;
        case "unary": {
          const a = visit(n.args[0]);
          expr = n.fn === "neg" ? `(-${a})` : n.fn === "not" ? `(!${a})` : n.fn === "sigmoid" ? `sigmoid_s(${a})` : n.fn === "tanh" ? `tanh_safe(${a})` : `${n.fn}(${a})`;
          break;
        }
        case "binary": {
          const a = visit(n.args[0]);
          const b = visit(n.args[1]);
          expr = n.fn === "pow" ? `pow_s(${a}, ${b})` : n.fn === "min" ? `min_s(${a}, ${b})` : n.fn === "max" ? `max_s(${a}, ${b})` : `(${a} ${BIN_OP[n.fn]} ${b})`;
          break;
        }
        case "select": {
          const [c, a, b] = n.args.map(visit) as [string, string, string];
          expr = `select(${b}, ${a}, ${c})`;
          break;
        }
        case "bcast":
        case "detach":
          expr = visit(n.args[0]);
          alias = true;
          break;
        case "reduce":
          throw new Error(`codegen: reduction %${id} is not materialized before its use`);
        case "scan":
          lines.push(...scanLines(ctx, n, visit(n.args[1])));
          expr = `acc${id}`;
          break;
      }
    }
    if (alias) {
      done.set(id, expr);
      return;
    }
    const name = `v${id}`;
    lines.push(`let ${name}: ${n.type === "bool" ? "bool" : "f32"} = ${expr};`);
    done.set(id, name);
  };
  for (const r of roots) visit(r);
  return { lines, names: done };
}

/**
 * A scan at the current element: a loop over the slots of the element's response (tokens or
 * steps), in order up to the element (prefix) or from the last slot down to it (suffix),
 * folding acc = gamma * acc + x at valid slots. x is evaluated at each slot by its own cone in
 * an inner block (`e` and the unit indices shadowed there), reading the current policy from
 * the `pol` buffer (analyzeStage then asks for the prepass), since registers hold only the
 * element's own row. A response has at most T slots, so the cost is O(T) per element.
 */
function scanLines(ctx: EmitContext, n: Extract<Node, { op: "scan" }>, gamma: string): string[] {
  const id = n.id;
  const x = ctx.nodes[n.args[0]]!;
  const inner = emitCone({ ...ctx, level: n.level, policy: "buffer" }, [x.id]);
  const tok = n.level === "token";
  const per = tok ? "u.T" : "u.S";
  const cur = tok ? "i_token" : "i_step";
  const valid = tok ? "tstep[k] >= 0" : `${stepRead("k", "length")} > 0.0`;
  const loop = n.fn === "prefix" ? `for (var k = lo${id}; k <= cur${id}; k++) {` : `for (var j = lo${id} + ${per}; j > cur${id}; j--) {
  let k = j - 1u;`;
  return [
    `var acc${id}: f32 = 0.0;`,
    `let cur${id} = ${cur};`,
    `let lo${id} = i_seq * ${per};`,
    loop,
    `  if (${valid}) {`,
    "    let e = k;",
    ...[...indexPrelude(n.level), ...inner.lines].map((l) => `    ${l}`),
    `    acc${id} = ${gamma} * acc${id} + ${asF32(ctx.nodes, x.id, inner.names.get(x.id)!)};`,
    "  }",
    "}",
  ];
}

/** A node's value as f32 for storage (bools as 0/1). */
export function asF32(nodes: readonly Node[], id: number, name: string): string {
  return nodes[id]!.type === "bool" ? `f32(${name})` : name;
}
