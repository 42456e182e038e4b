// How many optimizer steps a run takes when the user gives no --steps: the sum over the
// stage chain of each stage's `until steps >= N` (or `steps > N`, `steps == N`). Null when
// some stage ends on another condition (then the run goes until the conditions say so).
import type { Expr } from "../ast.js";
import type { Pipeline } from "../pipeline.js";

function stepBound(e: Expr): number | null {
  if (e.kind !== "binary") return null;
  const isSteps = (x: Expr) => x.kind === "name" && x.name === "steps";
  const num = (x: Expr) => (x.kind === "number" ? x.value : null);
  if (isSteps(e.left) && num(e.right) !== null) {
    const n = num(e.right)!;
    if (e.op === ">=" || e.op === "==") return Math.ceil(n);
    if (e.op === ">") return Math.floor(n) + 1;
  }
  if (e.op === "or") {
    const a = stepBound(e.left), b = stepBound(e.right);
    return a !== null && b !== null ? Math.min(a, b) : null;
  }
  return null;
}

export function plannedSteps(p: Pipeline): number | null {
  let total = 0;
  for (const s of p.stages) {
    const n = stepBound(s.until);
    if (n === null) return null;
    total += n;
  }
  return total;
}
