// Building IR graphs: hash-consed node construction with automatic broadcasts and a
// little constant folding (const op const, x + 0, x * 1; the arithmetic is `fold.ts`). Both the lowering of the AST and
// the derivative rules build through this one class, so equal subexpressions are one node.
import { finer, isFinerThan, rank, type Level } from "../levels.js";
import { binaryValue, BOOL_RESULT, unaryValue } from "./fold.js";
import { INPUTS, type BinaryFn, type InputName, type Node, type ReduceFn, type ScanFn, type UnaryFn, type VType } from "./ops.js";

/** A node before it has an id: the distributive Omit keeps each op's own fields. */
type NewNode = Node extends infer N ? (N extends Node ? Omit<N, "id" | "pdep"> : never) : never;

export class Graph {
  readonly nodes: Node[] = [];
  private readonly keys = new Map<string, number>();

  private add(n: NewNode, key: string): number {
    const hit = this.keys.get(key);
    if (hit !== undefined) return hit;
    const id = this.nodes.length;
    const args = "args" in n ? (n.args as number[]) : [];
    let pdep = n.op === "input" && (n.name === "logp" || n.name === "H");
    if (n.op !== "detach") for (const a of args) pdep ||= this.nodes[a]!.pdep;
    const node = { ...n, id, pdep } as Node;
    this.nodes.push(node);
    this.keys.set(key, id);
    return id;
  }

  node(id: number): Node {
    return this.nodes[id]!;
  }

  const(value: number, type: VType = "num"): number {
    return this.add({ op: "const", value, level: "scalar", type }, `c:${type}:${Object.is(value, -0) ? "-0" : value}`);
  }

  param(name: string): number {
    return this.add({ op: "param", name, level: "scalar", type: "num" }, `p:${name}`);
  }

  input(name: InputName): number {
    return this.add({ op: "input", name, level: INPUTS[name], type: name === "correct" ? "bool" : "num" }, `i:${name}`);
  }

  /** `x` at the finer level `to` (x itself when already there). */
  bcast(x: number, to: Level): number {
    const n = this.node(x);
    if (n.level === to) return x;
    if (!isFinerThan(to, n.level)) throw new Error(`IR: cannot broadcast ${n.level} to the coarser ${to}`);
    // Scalars are the same everywhere: a broadcast constant is still that constant.
    if (n.op === "const") return x;
    return this.add({ op: "bcast", args: [x], level: to, type: n.type }, `b:${to}:${x}`);
  }

  /** Level where a node is used at `level`; constants stay scalar so folding still sees them. */
  private lift(x: number, level: Level): number {
    return this.node(x).op === "const" ? x : this.bcast(x, level);
  }

  private levelOf(...xs: number[]): Level {
    return xs.map((x) => this.node(x).level).reduce((a, b) => finer(a, b), "scalar" as Level);
  }

  unary(fn: UnaryFn, x: number): number {
    const a = this.node(x);
    if (a.op === "const") return this.const(unaryValue(fn, a.value), fn === "not" ? "bool" : "num");
    if (fn === "neg" && a.op === "unary" && a.fn === "neg") return a.args[0];
    return this.add({ op: "unary", fn, args: [x], level: a.level, type: fn === "not" ? "bool" : "num" }, `u:${fn}:${x}`);
  }

  binary(fn: BinaryFn, x: number, y: number): number {
    const a = this.node(x);
    const b = this.node(y);
    const type: VType = BOOL_RESULT.has(fn) ? "bool" : "num";
    if (a.op === "const" && b.op === "const") return this.const(binaryValue(fn, a.value, b.value), type);
    const isC = (n: Node, v: number) => n.op === "const" && n.value === v;
    if ((fn === "add" && isC(b, 0)) || (fn === "sub" && isC(b, 0)) || ((fn === "mul" || fn === "div") && isC(b, 1))) return x;
    if ((fn === "add" && isC(a, 0)) || (fn === "mul" && isC(a, 1))) return y;
    if (fn === "sub" && isC(a, 0)) return this.unary("neg", y);
    const level = this.levelOf(x, y);
    const l = this.lift(x, level);
    const r = this.lift(y, level);
    return this.add({ op: "binary", fn, args: [l, r], level, type }, `bin:${fn}:${l}:${r}`);
  }

  select(c: number, x: number, y: number): number {
    const cn = this.node(c);
    if (cn.op === "const") return cn.value !== 0 ? x : y;
    if (x === y) return x;
    const level = this.levelOf(c, x, y);
    const [lc, lx, ly] = [this.lift(c, level), this.lift(x, level), this.lift(y, level)];
    return this.add({ op: "select", args: [lc, lx, ly], level, type: this.node(x).type }, `s:${lc}:${lx}:${ly}`);
  }

  /** `fn(x over level)`; `q` (quantile) is a scalar or batch-level node (one value per batch). */
  reduce(fn: ReduceFn, x: number, level: Level, extra: { ddof?: number; q?: number } = {}): number {
    const n = this.node(x);
    if (!isFinerThan(n.level, level)) throw new Error(`IR: reduce over ${level} needs a finer value, got ${n.level}`);
    const ddof = extra.ddof ?? 0;
    if (fn === "quantile") {
      const q = extra.q;
      if (q === undefined || rank(this.node(q).level) > rank("batch")) throw new Error("IR: quantile needs a scalar or batch-level q");
      return this.add({ op: "reduce", fn, ddof: 0, args: [x, q], level, type: "num" }, `r:${fn}:${level}:${x}:${q}`);
    }
    return this.add({ op: "reduce", fn, ddof, args: [x], level, type: "num" }, `r:${fn}:${level}:${x}:${ddof}`);
  }

  /** A discounted prefix or suffix sum of the token- or step-level `x` along each response; `gamma` is a scalar node. */
  scan(fn: ScanFn, x: number, gamma: number): number {
    const n = this.node(x);
    if (n.level !== "token" && n.level !== "step") throw new Error(`IR: a scan runs along a response's tokens or steps, got a ${n.level}-level value`);
    if (rank(this.node(gamma).level) > rank("scalar")) throw new Error("IR: a scan's discount must be a scalar");
    return this.add({ op: "scan", fn, args: [x, gamma], level: n.level, type: "num" }, `sc:${fn}:${x}:${gamma}`);
  }

  detach(x: number): number {
    const n = this.node(x);
    if (!n.pdep) return x;
    return this.add({ op: "detach", args: [x], level: n.level, type: n.type }, `d:${x}`);
  }

  /** Number 1 at every element of `level` (counts are sums of it). */
  ones(level: Level): number {
    const one = this.const(1);
    if (level === "scalar") return one;
    // `bcast` never wraps a constant (see above); a count needs a real element per unit.
    return this.add({ op: "bcast", args: [one], level, type: "num" }, `b:${level}:${one}`);
  }

  /** Numeric view of a bool: 1 or 0. */
  toNum(x: number): number {
    return this.node(x).type === "bool" ? this.select(x, this.const(1), this.const(0)) : x;
  }
}
