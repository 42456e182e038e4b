// Regressions: `not` reaches the AST (the CST visitor once dropped it); absolute `extends` paths.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { printPipeline } from "../../compiler/print.js";

describe("the not operator", () => {
  it("is kept in the AST and in the printed pipeline", () => {
    const src = readFileSync("examples/grpo.acpo", "utf8").replace(/stage train until steps >= \d+/, "stage train until not (steps < 300)");
    const r = loadPipeline("examples/grpo.acpo", { text: src });
    expect(r.diagnostics).toEqual([]);
    const until = r.pipeline!.stages[0]!.until;
    expect(until.kind).toBe("unary");
    expect(until.kind === "unary" && until.op).toBe("not");
    const again = loadPipeline("examples/grpo.acpo", { text: printPipeline(r.pipeline!) });
    expect(again.pipeline!.stages[0]!.until.kind).toBe("unary");
  });
});

describe("extends with an absolute path", () => {
  it("reads the parent at that path", () => {
    const parent = `${process.cwd()}/examples/grpo.acpo`;
    const r = loadPipeline("/tmp/child.acpo", { text: `pipeline child extends "${parent}" { seed 3 }` });
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline!.seed).toBe(3);
    expect(r.pipeline!.extendsChain).toContain(parent);
  });
});
