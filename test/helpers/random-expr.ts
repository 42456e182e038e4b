// Random well-typed `.acpo` expressions for the back ends' differential tests (WGSL and
// PyTorch against the interpreter): every level, broadcasts between levels, and every
// kind of reduction. Each test passes the leaves (built-in names) its back end covers.
import type { Level } from "../../compiler/levels.js";

export type Leaves = Record<Level, string[]>;
type R = () => number;

const ORDER: Level[] = ["scalar", "batch", "group", "sequence", "step", "token"];
const OVER: Partial<Record<Level, string>> = { batch: "batch", group: "group", sequence: "seq", step: "step" };

/** A random numeric expression whose level is at most `level` (exactly `level` when `exact`). */
export function randomExpr(r: R, leaves: Leaves, level: Level, depth: number, exact = false): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const li = ORDER.indexOf(level);
  const sub = (d = depth - 1) => randomExpr(r, leaves, ORDER[Math.floor(r() * (li + 1))]!, d);
  if (depth <= 0 || r() < 0.2) {
    // A reduction reaches batch and group levels, which may have no leaves of their own.
    if (exact && level !== "scalar" && level !== "token" && (leaves[level].length === 0 || r() < 0.5)) return reduction(r, leaves, level, Math.max(depth, 1));
    if (exact || r() < 0.5) {
      const own = leaves[level];
      if (own.length > 0) return pick(own);
    }
    return pick(leaves[ORDER[Math.floor(r() * (li + 1))]!].concat(leaves.scalar));
  }
  const x = exact ? randomExpr(r, leaves, level, depth - 1, true) : sub();
  switch (Math.floor(r() * 8)) {
    case 0: return `(${x} ${pick(["+", "-", "*"])} ${sub()})`;
    case 1: return `(${x} / (abs(${sub()}) + 1))`;
    case 2: return pick([`exp(clip(${x}, -5, 5))`, `tanh(${x})`, `sigmoid(${x})`]);
    case 3: return `(log(abs(${x}) + 1) + sqrt(abs(${x})))`;
    case 4: return `(if ${x} > ${sub()} then ${sub()} else ${x})`;
    case 5: return `${pick(["min", "max"])}(${x}, ${sub()})`;
    case 6: return `((${x}) ^ ${pick(["2", "3"])} / 10)`;
    default: return li > 0 && level !== "token" ? reduction(r, leaves, level, depth) : `(-${x})`;
  }
}

function reduction(r: R, leaves: Leaves, level: Level, depth: number): string {
  const finer = ORDER.slice(ORDER.indexOf(level) + 1).filter((l) => l !== "batch" && !(level === "step" && l !== "token"));
  const from = finer[Math.floor(r() * finer.length)]!;
  const x = randomExpr(r, leaves, from, depth - 1, true);
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
