// How many optimizer steps a run takes when the user gives no --steps: the stage chain's
// `until` conditions read as step counts. A stage ends after the first step at which its
// condition holds (it runs at least one step): `until steps >= N` (or `steps > N`,
// `steps == N`) after N of its own steps, `until total_steps >= N` once the run has taken N
// in all; N may be a number or a param (`until steps >= switch`, as a sweep over the switch
// point writes it). Null when some stage ends on another condition (then the run goes until
// the conditions say so).
import type { Expr } from "../ast.js";
import type { Pipeline } from "../pipeline.js";

/** A stage's end as a count: of its own steps, or of the run's steps so far. */
interface StepBound {
  counter: "steps" | "total_steps";
  n: number;
}

function stepBound(e: Expr, params: ReadonlyMap<string, number>): StepBound | null {
  if (e.kind !== "binary") return null;
  const counter = (x: Expr) => (x.kind === "name" && (x.name === "steps" || x.name === "total_steps") ? x.name : null);
  const num = (x: Expr) => (x.kind === "number" ? x.value : x.kind === "name" ? (params.get(x.name) ?? null) : null);
  const c = counter(e.left), n = num(e.right);
  if (c !== null && n !== null) {
    if (e.op === ">=" || e.op === "==") return { counter: c, n: Math.ceil(n) };
    if (e.op === ">") return { counter: c, n: Math.floor(n) + 1 };
  }
  if (e.op === "or") {
    const a = stepBound(e.left, params), b = stepBound(e.right, params);
    return a !== null && b !== null && a.counter === b.counter ? { counter: a.counter, n: Math.min(a.n, b.n) } : null;
  }
  return null;
}

export function plannedSteps(p: Pipeline): number | null {
  const params = new Map(p.params.map((q) => [q.name, q.value] as const));
  let total = 0;
  for (const s of p.stages) {
    const b = stepBound(s.until, params);
    if (b === null) return null;
    total += Math.max(1, b.counter === "steps" ? b.n : b.n - total);
  }
  return total;
}
