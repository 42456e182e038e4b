// The CST -> AST step loses nothing: the visitor knows exactly the child keys the grammar
// can produce (a key it did not read once dropped `true`/`false` with the item around them),
// and every token kind of the lexer survives parse -> print -> parse with its meaning.
import { resolve } from "node:path";
import type { IProduction, TokenType } from "chevrotain";
import { describe, expect, it } from "vitest";
import { loadPipeline, type Pipeline } from "../../compiler/index.js";
import * as T from "../../compiler/lexer.js";
import { parser } from "../../compiler/parser.js";
import { Source } from "../../compiler/source.js";
import { AstBuilder, CST_KEYS } from "../../compiler/visitor.js";
import { check, meaning, reprinted, withBody } from "./helpers.js";

/** The CST child keys a production can produce: labels, else token and rule names. */
function keysOf(prods: IProduction[], out: Set<string>): Set<string> {
  for (const p of prods) {
    const x = p as unknown as { label?: string; terminalType?: TokenType; nonTerminalName?: string; separator?: TokenType; definition?: IProduction[] };
    if (x.terminalType) out.add(x.label ?? x.terminalType.name);
    // A rule reference yields its own node; its definition belongs to that rule.
    else if (x.nonTerminalName) out.add(x.label ?? x.nonTerminalName);
    else {
      if (x.separator) out.add(x.separator.name);
      if (x.definition) keysOf(x.definition, out);
    }
  }
  return out;
}

/** Load, print, load the print at the same path: the two pipelines must mean the same. */
function roundTrip(text: string, path: string): { first: Pipeline; again: Pipeline } {
  const r = loadPipeline(path, { text });
  expect(r.diagnostics.map((d) => `${d.span?.line}:${d.span?.col} ${d.code} ${d.message}`)).toEqual([]);
  const again = reprinted(r.pipeline!);
  expect(again.diagnostics.map((d) => `${d.span?.line}:${d.span?.col} ${d.code} ${d.message}`)).toEqual([]);
  expect(meaning(again.pipeline!)).toEqual(meaning(r.pipeline!));
  return { first: r.pipeline!, again: again.pipeline! };
}

const PARENT = resolve("examples/grpo.acpo");

/** Uses every token kind of the lexer (checked below), with comments and `;` separators. */
const CORPUS = `# every token kind
pipeline corpus extends "${PARENT}" {
  seed 3; model "../../models/countdown-tiny"
  task countdown { numbers 3..4  values 1..9 }
  segment newline { min_gap 1 }
  param alpha = 0.5 in [0, 10]
  param z = -0
  let all = true
  let none = false
  let A = (r - mean(r over group)) / (std(r over group, 1) + 1e-4) * alpha
  fn w(x, y) = if x > 0 and y <= 1 or not (x >= 2) then x ^ -y ^ 2 else - - x * y / 2
  advantage = if correct or false then w(A, step_entropy) else if all and length != 3 then -1 else A - z
  stage train until steps >= 5 or total_steps == 100 or steps < 0 then end {
    reference initial
    kl 0.04 * k3
    token_mask false
    token_weight if none then 1 else p
  }
  eval { every 5  samples 4  metrics [acc@4, pass@2] }
}
`;

describe("the CST visitor", () => {
  it("knows exactly the child keys each grammar rule can produce", () => {
    const grammar = parser.getGAstProductions();
    const fromGrammar = Object.fromEntries(Object.entries(grammar).map(([name, rule]) => [name, [...keysOf(rule.definition, new Set())].sort()]));
    const known = Object.fromEntries(Object.entries(CST_KEYS).map(([name, keys]) => [name, [...keys].sort()]));
    expect(known).toEqual(fromGrammar);
  });

  it("fails loudly, naming the key, on a CST child it does not know", () => {
    const src = new Source("x.acpo", "pipeline p { }");
    const bogus = { name: "file", children: { Kw_pipeline: [], name: [], Kw_true: [] } };
    expect(() => new AstBuilder(src).pipeline(bogus)).toThrow("CST node `file` has a child `Kw_true` that the AST builder does not read");
  });
});

describe("true and false", () => {
  it("`token_mask false` masks every token (it once ran as true)", () => {
    const text = withBody("", { stage: false }).replace("\n}\n", "\n  stage s until steps >= 5 { token_mask false }\n}\n");
    const r = check(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline!.stages[0]!.tokenMask).toMatchObject({ kind: "bool", value: false });
  });

  it("a child's `advantage = if correct or false ...` replaces the parent's", () => {
    const r = loadPipeline("examples/child.acpo", { text: 'pipeline child extends "grpo.acpo" {\n  advantage = if correct or false then 1 else -1\n}\n' });
    expect(r.diagnostics).toEqual([]);
    const a = r.pipeline!.advantage;
    expect(a.kind).toBe("if");
    expect(a.kind === "if" && a.cond).toMatchObject({ kind: "binary", op: "or", right: { kind: "bool", value: false } });
  });

  it("`let all = true` defines `all`", () => {
    const r = check(withBody("  let all = true\n  stage s2 until all and steps >= 1 { }"));
    expect(r.diagnostics).toEqual([]);
    expect(r.pipeline!.lets).toMatchObject([{ name: "all", expr: { kind: "bool", value: true }, level: "scalar" }]);
  });
});

describe("parse -> print -> parse", () => {
  it("the corpus uses every token kind of the lexer", () => {
    const used = new Set(T.lexer.tokenize(CORPUS).tokens.map((t) => t.tokenType));
    const errorKinds = new Set([T.UnterminatedString, T.MalformedNumber, T.WhiteSpace, T.Comment]);
    const missing = T.allTokens.filter((t) => !errorKinds.has(t) && !used.has(t)).map((t) => t.name);
    expect(missing).toEqual([]);
    expect(CORPUS).toMatch(/#/);
  });

  it("keeps the meaning of the corpus, every expression and setting", () => {
    const { first } = roundTrip(CORPUS, "test/compiler/fixtures/corpus.acpo");
    // Spot checks that the meaning is the written one, not merely a stable one.
    expect(first.seed).toBe(3);
    expect(first.params.find((p) => p.name === "z")!.value).toBe(-0);
    expect(first.stages[0]!.tokenMask).toMatchObject({ kind: "bool", value: false });
    expect(first.evals[0]!.metrics).toEqual([{ kind: "acc", k: 4 }, { kind: "pass", k: 2 }]);
    const fn = first.fns.find((f) => f.name === "w")!;
    // x ^ -y ^ 2 is x ^ (-(y ^ 2)); - - x * y / 2 is ((-(-x)) * y) / 2.
    expect(fn.body.kind === "if" && fn.body.then).toMatchObject({ op: "^", left: { name: "x" }, right: { kind: "unary", op: "neg", operand: { op: "^", left: { name: "y" }, right: { value: 2 } } } });
    expect(fn.body.kind === "if" && fn.body.else).toMatchObject({ op: "/", left: { op: "*", left: { kind: "unary", operand: { kind: "unary", operand: { name: "x" } } } } });
  });

  it("keeps the meaning of every example", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    for (const f of readdirSync("examples").filter((n) => n.endsWith(".acpo"))) roundTrip(readFileSync(`examples/${f}`, "utf8"), `examples/${f}`);
  });

  it("keeps negative literals as operands: (-1) ^ 2 is 1, not -(1 ^ 2)", () => {
    const { first, again } = roundTrip(withBody("  param q = (-1) ^ 2"), "test/compiler/inline.acpo");
    expect(first.params[0]!.value).toBe(1);
    expect(again.params[0]!.value).toBe(1);
  });
});

describe("tokens that are errors", () => {
  it.each([
    ["0x10", "`0x10` is not a number: the language has decimal numbers only", "write 16"],
    ["1_000", "`1_000` is not a number: `_` cannot separate digits", "write 1000"],
    ["2e", "`2e` is not a number: a number cannot run into letters", "put a space or an operator between them, e.g. `2 * x`, or write an exponent as `1e-6`"],
    ["1e999", "`1e999` is too large for a 64-bit float (it would be Infinity)", "numbers must be below 1.8e308"],
    ["1e-400", "`1e-400` is too small for a 64-bit float (it would be 0)", "numbers other than 0 must be at least 5e-324 in size; write 0 if you mean 0"],
  ])("%s gets E0104 at its position", (lit, message, hint) => {
    const text = withBody(`  param e = ${lit}`);
    const r = check(text);
    expect(r.diagnostics.map((d) => ({ code: d.code, line: d.span?.line, col: d.span?.col, message: d.message, hint: d.hint }))).toEqual([{ code: "E0104", line: 9, col: 13, message, hint }]);
  });
});
