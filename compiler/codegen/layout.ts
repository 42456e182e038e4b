// What a stage's kernels must compute and where each value lives: the analysis between the
// IR and the WGSL. Every reduction is materialized in the `stats` buffer, in phases (a
// reduction whose argument uses another reduction runs in a later phase); coarse values
// the loss head broadcasts to tokens and the user's named values are materialized there
// too, by the per-level values kernel; everything else is recomputed inline where it is
// used (a few flops beat a buffer round trip).
import type { Level } from "../levels.js";
import { argsOf, type Node } from "../ir/ops.js";
import type { StageProgram, TokenOutputs } from "../ir/stage.js";

/** Per-token output columns of the loss head, in `tok` (N, K) order. */
export const TOK_COLUMNS = ["advantage", "weight", "mask", "ratio", "clipLow", "clipHigh", "dual", "kl", "klEstimate", "klLoss", "tokenLoss", "contribution", "dlogp", "dH", "logp", "H"] as const satisfies readonly (keyof TokenOutputs)[];
export const K_TOK = TOK_COLUMNS.length;

/**
 * Kernel inputs per response, `seqin` (B, K_SEQ), in this column order. Adding a sequence-level
 * built-in: a column here, its read in emit.ts INPUT_READ (seqRead), and packSequences.
 */
export const SEQ_COLUMNS = ["r", "correct", "length", "group", "format"] as const;
export type SeqColumn = (typeof SEQ_COLUMNS)[number];
export const K_SEQ = SEQ_COLUMNS.length;

/**
 * Kernel inputs per step slot, `stpin` (B*S, K_STP): attribution C, tokens in the step (0: no
 * step), mean rollout entropy, the task's step checker's reward (step_reward), the
 * Monte-Carlo values at the step's start and end (mc_value, mc_next), the judge model's
 * verdict log-probability after the step (judge_score).
 */
export const STEP_COLUMNS = ["C", "length", "entropy", "reward", "mcValue", "mcNext", "judge"] as const;
export type StepColumn = (typeof STEP_COLUMNS)[number];
export const K_STP = STEP_COLUMNS.length;

/** WGSL for column `c` of response `row` in `seqin`. */
export function seqRead(row: string, c: SeqColumn): string {
  const j = SEQ_COLUMNS.indexOf(c);
  return `seqin[${K_SEQ}u * ${row}${j > 0 ? ` + ${j}u` : ""}]`;
}

/** WGSL for column `c` of step slot `row` in `stpin`. */
export function stepRead(row: string, c: StepColumn): string {
  const j = STEP_COLUMNS.indexOf(c);
  return `stpin[${K_STP}u * ${row}${j > 0 ? ` + ${j}u` : ""}]`;
}

/** A materialized value: its node and level; its offset in `stats` follows from the dims. */
export interface Slot {
  node: number;
  level: Level;
}

export interface StageLayout {
  /** Reductions by phase; phase k reads only stats of phases < k. */
  phases: Slot[][];
  /** Coarse non-reduction values written by the values kernel (read by the loss head, reported by replay). */
  values: Slot[];
  /** Whether some reduction or value reads the current policy's logp/H at tokens (needs the prepass in logits mode). */
  needsPolicy: boolean;
}

export interface Dims {
  B: number;
  T: number;
  S: number;
  NG: number;
}

/** Elements of a level, as coefficients of (NG, B, B*S, 1). */
export function levelCoeffs(l: Level): [number, number, number, number] {
  switch (l) {
    case "group": return [1, 0, 0, 0];
    case "sequence": return [0, 1, 0, 0];
    case "step": return [0, 0, 1, 0];
    case "batch":
    case "scalar": return [0, 0, 0, 1];
    case "token": throw new Error("codegen: token values are not materialized in stats");
  }
}

export function levelCount(l: Level, d: Dims): number {
  const [g, b, s, one] = levelCoeffs(l);
  return g * d.NG + b * d.B + s * d.B * d.S + one;
}

/** All materialized slots in stats order. */
export function statSlots(l: StageLayout): Slot[] {
  return [...l.phases.flat(), ...l.values];
}

/** Offset of each slot's first element, as coefficients of (NG, B, B*S, 1). */
export function slotOffsets(l: StageLayout): Map<number, [number, number, number, number]> {
  const out = new Map<number, [number, number, number, number]>();
  const acc: [number, number, number, number] = [0, 0, 0, 0];
  for (const s of statSlots(l)) {
    out.set(s.node, [...acc]);
    const c = levelCoeffs(s.level);
    for (let i = 0; i < 4; i++) acc[i]! += c[i]!;
  }
  out.set(-1, [...acc]); // total size
  return out;
}

export function statsSize(l: StageLayout, d: Dims): number {
  const [g, b, s, one] = slotOffsets(l).get(-1)!;
  return Math.max(1, g * d.NG + b * d.B + s * d.B * d.S + one);
}

/** Ids of `roots` and every node they read, stopping below nodes in `stop`. */
export function cone(nodes: readonly Node[], roots: number[], stop: (n: Node) => boolean = () => false): Set<number> {
  const seen = new Set<number>();
  const pending = [...roots];
  while (pending.length) {
    const id = pending.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const n = nodes[id]!;
    if (stop(n) && !roots.includes(id)) continue;
    for (const a of argsOf(n)) pending.push(a);
  }
  return seen;
}

const trivial = (n: Node) => n.op === "const" || n.op === "param" || n.op === "input" || n.op === "reduce";

export function analyzeStage(prog: StageProgram): StageLayout {
  const nodes = prog.nodes;
  const tokenRoots = TOK_COLUMNS.map((c) => prog.tokens[c]);
  // Coarse values worth materializing: what the loss head lifts to tokens, and named values.
  const valueIds = new Set<number>();
  for (const id of cone(nodes, tokenRoots, (n) => n.op === "reduce")) {
    const n = nodes[id]!;
    if (n.op === "bcast" && n.level === "token") {
      const src = nodes[n.args[0]]!;
      if (!trivial(src) && src.level !== "scalar") valueIds.add(src.id);
    }
  }
  for (const x of prog.named) {
    const n = nodes[x.node]!;
    if (x.level !== "token" && x.level !== "scalar" && n.op !== "reduce") valueIds.add(x.node);
  }
  const valueList = [...valueIds].sort((a, b) => a - b);
  // Reductions needed by anything we compute, by depth.
  const reported = prog.named.filter((x) => x.level !== "token").map((x) => x.node);
  const reduces = [...cone(nodes, [...tokenRoots, ...valueList, ...reported])]
    .filter((id) => nodes[id]!.op === "reduce")
    .sort((a, b) => a - b);
  const depth = new Map<number, number>();
  for (const id of reduces) {
    let d = 0;
    for (const x of cone(nodes, [...argsOf(nodes[id]!)], (n) => n.op === "reduce")) {
      if (nodes[x]!.op === "reduce" && x !== id) d = Math.max(d, depth.get(x)! + 1);
    }
    depth.set(id, d);
  }
  const phases: Slot[][] = [];
  for (const id of reduces) (phases[depth.get(id)!] ??= []).push({ node: id, level: nodes[id]!.level });
  const readsPolicy = (roots: number[]) =>
    [...cone(nodes, roots, (n) => n.op === "reduce")].some((x) => {
      const n = nodes[x]!;
      return n.op === "input" && (n.name === "logp" || n.name === "H");
    });
  // A scan evaluates its argument at other tokens of the response, from the `pol` buffer.
  const scans = [...cone(nodes, [...tokenRoots, ...valueList, ...reported])].filter((id) => nodes[id]!.op === "scan");
  const needsPolicy = reduces.some((id) => readsPolicy([...argsOf(nodes[id]!)])) || readsPolicy(valueList) || scans.some((id) => readsPolicy([...argsOf(nodes[id]!)]));
  return { phases: phases.filter((p) => p && p.length > 0), values: valueList.map((id) => ({ node: id, level: nodes[id]!.level })), needsPolicy };
}
