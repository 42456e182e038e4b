// Every example checks clean; the resolved pipeline is complete and annotated; printing
// it back gives text that checks to the same pipeline; extends and --set behave.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Expr } from "../../compiler/ast.js";
import { loadPipeline, printPipeline } from "../../compiler/index.js";
import { check, withBody } from "./helpers.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".acpo")).map((f) => `examples/${f}`);

/** Every node of an expression, fn-call instances included. */
function nodes(e: Expr): Expr[] {
  const kids: Expr[] = e.kind === "unary" ? [e.operand] : e.kind === "binary" ? [e.left, e.right] : e.kind === "if" ? [e.cond, e.then, e.else] : e.kind === "call" ? [...e.args.map((a) => a.value), ...(e.body ? [e.body] : [])] : [];
  return [e, ...kids.flatMap(nodes)];
}

describe("examples", () => {
  it("has the required examples", () => {
    for (const name of ["acpo", "grpo", "dapo", "dr_grpo", "gspo", "entropy_top20", "clip_cov", "cispo", "gmpo", "reinforce_pp", "multi_reward", "sapo", "prm_steps", "vineppo", "acpo_mc", "prm_judge"]) expect(examples).toContain(`examples/${name}.acpo`);
    expect(examples.length).toBeGreaterThan(7);
  });

  for (const file of examples) {
    it(`${file} checks clean, annotated, and round-trips through printPipeline`, () => {
      const r = loadPipeline(file);
      expect(r.diagnostics).toEqual([]);
      const p = r.pipeline!;
      const exprs = [p.advantage, ...p.lets.map((l) => l.expr), ...p.stages.flatMap((s) => [s.until, s.tokenWeight, s.tokenMask, ...(s.kl ? [s.kl] : [])])];
      for (const e of exprs.flatMap(nodes)) {
        expect(e.level, `level of ${e.kind} at ${e.span.line}:${e.span.col}`).toBeDefined();
        expect(e.type).toBeDefined();
      }
      const text = printPipeline(p);
      const again = check(text, file.replace(".acpo", ".printed.acpo"));
      expect(again.diagnostics).toEqual([]);
      expect(printPipeline(again.pipeline!).split("\n").slice(1)).toEqual(text.split("\n").slice(1));
    });
  }
});

describe("resolved pipeline", () => {
  it("annotates levels: group reductions, step-level advantage, fn instances at call levels", () => {
    const p = loadPipeline("examples/acpo.acpo").pipeline!;
    expect(p.lets.find((l) => l.name === "A")!.level).toBe("sequence");
    expect(p.advantage.level).toBe("step");
    const call = nodes(p.advantage).find((e) => e.kind === "call" && e.callee === "w");
    expect(call?.kind === "call" && call.body?.level).toBe("step");
    expect(p.stages.map((s) => [s.name, s.next, s.reference.kind])).toEqual([["explore", "converge", "none"], ["converge", null, "stage"]]);
    expect(p.stages[1]!.klEstimators).toEqual(["k3"]);
  });

  it("extends merges blocks key by key and replaces whole items", () => {
    const p = loadPipeline("examples/acpo_newline.acpo").pipeline!;
    expect(p.extendsChain[0]).toMatch(/examples\/acpo\.acpo$/);
    expect(p.rollout).toMatchObject({ group: 16, prompts: 16, maxTokens: 96 });
    expect(p.segment).toEqual({ kind: "newline", minGap: 1 });
    expect(p.attribution).toEqual({ measure: "perplexity", judge: { kind: "initial" } });
    expect(p.stages[0]!.until.span.file).toBe("examples/acpo_newline.acpo");
    expect(p.stages[1]!.kl).not.toBeNull();
  });

  it("--set overrides a param and records where it came from", () => {
    const p = loadPipeline("examples/acpo_no_kl.acpo", { set: ["alpha=0.125"] }).pipeline!;
    expect(p.params.find((q) => q.name === "alpha")).toMatchObject({ value: 0.125, source: "set", min: 0, max: 10 });
    const r = loadPipeline("examples/acpo_no_kl.acpo", { set: ["alpha=11"] });
    expect(r.diagnostics.map((d) => [d.code, d.span?.file])).toEqual([["E0401", "--set[1]"]]);
  });

  it("reports several errors in one run, in source order", () => {
    const text = withBody("  let a = mean(H over sequ)\n  let b = foo + 1\n  let c = abs(1, 2)");
    const r = check(text);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0208", "E0201", "E0205"]);
    const lines = r.diagnostics.map((d) => d.span!.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it("recovers from several syntax errors", () => {
    const text = "pipeline x {\n  rollout { prompts 16 group }\n  param = 1\n  let y = (1 + )\n  stage s { }\n}\n";
    const r = check(text);
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(3);
    expect(r.diagnostics.every((d) => d.code === "E0102")).toBe(true);
    expect(new Set(r.diagnostics.map((d) => d.span!.line)).size).toBeGreaterThanOrEqual(3);
  });

  it("broadcasts coarse to fine and rejects reductions to a finer level", () => {
    const ok = check(withBody("  let x = H * r + accuracy - G\n  let y = quantile(H over batch, 0.8)"));
    expect(ok.diagnostics).toEqual([]);
    const lets = ok.pipeline!.lets;
    expect(lets.find((l) => l.name === "x")!.level).toBe("token");
    expect(lets.find((l) => l.name === "y")!.level).toBe("batch");
    const bad = check(withBody("  let y = quantile(H over batch, 1.5)"));
    expect(bad.diagnostics.map((d) => d.code)).toEqual(["E0401"]);
  });
});
