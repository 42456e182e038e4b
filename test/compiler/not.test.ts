// `not` reaches the AST (it was once dropped by the CST visitor) and round-trips through the printer.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { printPipeline } from "../../compiler/print.js";

describe("the not operator", () => {
  it("is kept in the AST and in the printed pipeline", () => {
    const src = readFileSync("examples/grpo.acpo", "utf8").replace("stage train until steps >= 300", "stage train until not (steps < 300)");
    const r = loadPipeline("examples/grpo.acpo", { text: src });
    expect(r.diagnostics).toEqual([]);
    const until = r.pipeline!.stages[0]!.until;
    expect(until.kind).toBe("unary");
    expect(until.kind === "unary" && until.op).toBe("not");
    const again = loadPipeline("examples/grpo.acpo", { text: printPipeline(r.pipeline!) });
    expect(again.pipeline!.stages[0]!.until.kind).toBe("unary");
  });
});
