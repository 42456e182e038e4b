// Constant folding is written once (compiler/ir/fold.ts): a constant expression has the
// same value whether the checker folds it (a param's value) or the IR folds it while
// lowering (a constant node), down to the last bit.
import { describe, expect, it } from "vitest";
import { Graph } from "../../compiler/ir/graph.js";
import { Lowering } from "../../compiler/ir/lower.js";
import type { Pipeline } from "../../compiler/index.js";
import { check, withBody } from "./helpers.js";

/** The pipeline with `param v = expr` and `advantage = expr`. */
function load(expr: string): Pipeline {
  const text = withBody(`  param v = ${expr}\n`, { advantage: false }).replace("  stage train", `  advantage = ${expr}\n  stage train`);
  const r = check(text);
  if (!r.pipeline) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.pipeline;
}

/** The value of the checked advantage after lowering: it must fold to one constant node. */
function irValue(p: Pipeline): number {
  const g = new Graph();
  const n = g.node(new Lowering(g, p).expr(p.advantage));
  if (n.op !== "const") throw new Error(`lowered to ${n.op}, not a constant`);
  return n.value;
}

const CASES: [string, number][] = [
  ["1 + 2 * 3 - 4 / 8", 6.5],
  ["2 ^ 0.5", Math.SQRT2],
  ["-(3 - 5)", 2],
  ["abs(-3) + floor(-2.5)", 0],
  ["exp(1) * log(2)", Math.E * Math.LN2],
  ["sqrt(2) + sigmoid(0.3) + tanh(1)", Math.sqrt(2) + 1 / (1 + Math.exp(-0.3)) + Math.tanh(1)],
  ["min(2, 3) + max(2, 3)", 5],
  ["clip(5, 0, 1) + clip(-5, 0, 1) + clip(0.25, 0, 1)", 1.25],
  ["clip(0.5, 1, 0)", 0],
  ["if 1 < 2 and not (2 <= 1) then 0.1 else 0.2", 0.1],
  ["if 1 == 1.0 or 3 != 3 then 1 else 0", 1],
  ["if (1 > 2) == false then 7 else 8", 7],
  ["if 2 >= 2 then 1e-6 else -1e-6", 1e-6],
  ["0.1 + 0.2", 0.1 + 0.2],
];

describe("a folded constant means the same to the checker and the IR", () => {
  it.each(CASES)("%s", (expr, want) => {
    const p = load(expr);
    const checked = p.params.find((q) => q.name === "v")!.value;
    expect(checked).toBe(want);
    expect(irValue(p)).toBe(checked);
  });
});
