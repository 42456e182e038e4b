// Long and deep programs: operator chains of thousands of terms check, print and compile
// with their written meaning (they once overflowed the stack: "internal compiler error:
// Maximum call stack size exceeded", no position); nesting past MAX_NESTING and runaway
// definitions get E0105 at a position (spec/language.md, "Limits").
import { describe, expect, it } from "vitest";
import { generateStage } from "../../compiler/codegen/index.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { MAX_NESTING } from "../../compiler/limits.js";
import { printExpr } from "../../compiler/print.js";
import { at, check, withBody } from "./helpers.js";

const chain = (n: number, term: string, op: string) => Array.from({ length: n }, () => term).join(` ${op} `);

/** The value of `param v = <expr>` after checking, with no diagnostics. */
function paramValue(expr: string): number {
  const r = check(withBody(`  param v = ${expr}`));
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return r.pipeline!.params[0]!.value;
}

describe("long operator chains are flat", () => {
  it.each([
    ["a sum of 2,000 terms", chain(2000, "1", "+"), 2000],
    ["a product of 20,000 factors", chain(20000, "1", "*"), 1],
    ["2,001 unary minuses", `${"-".repeat(2001)}1`, -1],
    ["2,000 nots", `if ${"not ".repeat(2000)}true then 1 else 0`, 1],
    // Right-associative: 2 ^ (2 ^ (0 ^ (5 ^ ...))) = 2 ^ 1; from the left it would be 1.
    ["a ^ chain of 2,000", `2 ^ 2 ^ 0 ^ ${chain(1997, "5", "^")}`, 2],
    ["1,000 `else if`s", `${Array.from({ length: 1000 }, (_, i) => `if ${i} > 998 then ${i} else `).join("")}-7`, 999],
    ["a 100,000-term sum", chain(100000, "1", "+"), 100000],
  ])("%s checks with its written value", (_, expr, value) => {
    expect(paramValue(expr)).toBe(value);
  });

  it("a 5,000-term token-level chain prints back as written and compiles to kernels", () => {
    const terms = chain(5000, "H", "+");
    const text = withBody(`  let big = ${terms}`, { advantage: false }).replace("\n}\n", "\n  advantage = big - mean(big over seq)\n}\n");
    const r = check(text);
    expect(r.diagnostics).toEqual([]);
    expect(printExpr(r.pipeline!.lets[0]!.expr)).toBe(terms);
    const kernels = generateStage(lowerStage(r.pipeline!, r.pipeline!.stages[0]!));
    const wgsl = kernels.kernels.map((k) => k.kernel.body).join("\n");
    expect(wgsl.match(/ \+ /g)!.length).toBeGreaterThanOrEqual(4999);
  });
});

describe("nesting past MAX_NESTING is E0105 at the first token too deep", () => {
  const deep = MAX_NESTING + 1;
  it.each([
    ["parentheses", `  let x = ${"(".repeat(deep)}1${")".repeat(deep)}`, "(1)"],
    ["calls", `  let x = ${"abs(".repeat(deep)}H${")".repeat(deep)}`, "abs(H)"],
    ["if conditions", `  let x = ${"if ".repeat(deep)}true${" then 1 else 0".repeat(deep)}`, "if true"],
  ])("%s", (_, body, needle) => {
    const text = withBody(body);
    const r = check(text);
    expect(r.diagnostics.map((d) => ({ code: d.code, message: d.message, ...(d.span ? { line: d.span.line, col: d.span.col } : {}) }))).toEqual([
      { code: "E0105", message: `expression or block nested more than ${MAX_NESTING} levels deep`, ...at(text, needle) },
    ]);
  });

  it("blocks", () => {
    const text = withBody(`  junk ${"a { ".repeat(deep)}${"} ".repeat(deep)}`);
    const r = check(text);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0105"]);
    expect(r.diagnostics[0]!.span).toMatchObject({ line: 9 });
  });

  it("exactly MAX_NESTING levels check", () => {
    expect(paramValue(`${"(".repeat(MAX_NESTING - 1)}7${")".repeat(MAX_NESTING - 1)}`)).toBe(7);
  });

  it("100,000 open parentheses stop at the limit (no stack overflow)", () => {
    const r = check(withBody(`  let x = ${"(".repeat(100000)}`));
    expect(r.diagnostics.map((d) => d.code)).toContain("E0105");
    expect(r.diagnostics.every((d) => !/internal compiler error/.test(d.message))).toBe(true);
  });
});

describe("definition chains and fn expansion are bounded", () => {
  const deep = MAX_NESTING + 1;
  it("a chain of lets, each using the next one declared, is E0105", () => {
    const lets = Array.from({ length: deep + 1 }, (_, i) => `  let a${i} = ${i === deep ? "H" : `a${i + 1} + 1`}`).join("\n");
    const r = check(withBody(lets));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0105"]);
    expect(r.diagnostics[0]!.message).toMatch(/is defined through a chain of more than 100 lets/);
  });

  it("a chain of lets in dependency order is E0105 too (lowering would recurse through it)", () => {
    const lets = Array.from({ length: deep + 1 }, (_, i) => `  let a${i} = ${i === 0 ? "H" : `a${i - 1} + 1`}`).join("\n");
    const text = withBody(lets);
    const r = check(text);
    expect(r.diagnostics.map((d) => ({ code: d.code, message: d.message, line: d.span?.line }))).toEqual([
      { code: "E0105", message: `let \`a${MAX_NESTING}\` is defined through a chain of more than ${MAX_NESTING} lets`, line: at(text, `let a${MAX_NESTING} =`).line },
    ]);
  });

  it("a chain of params is E0105", () => {
    const params = Array.from({ length: deep + 1 }, (_, i) => `  param p${i} = ${i === deep ? "1" : `p${i + 1} + 1`}`).join("\n");
    const r = check(withBody(params));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0105"]);
    expect(r.diagnostics[0]!.message).toBe(`param \`p${MAX_NESTING}\` is defined through a chain of more than ${MAX_NESTING} lets, params or fn calls`);
  });

  it("fns that call each other twice (2^30 copies) are E0105, not a hang", () => {
    const fns = Array.from({ length: 30 }, (_, i) => `  fn f${i + 1}(x) = f${i}(x) + f${i}(x)`).join("\n");
    const text = withBody(`  fn f0(x) = x\n${fns}\n  let y = f30(H)`);
    const r = check(text);
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0105"]);
    expect(r.diagnostics[0]!.message).toBe("calls of `fn`s expand to more than 100000 expression nodes");
  });
});
