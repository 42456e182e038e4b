// One test per diagnostic code: an inline snippet, the exact code, and its position.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CODES, type Code } from "../../compiler/diagnostics.js";
import { loadPipeline } from "../../compiler/index.js";
import { at, check, withBody } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "acpo-diag-"));

/** Exactly one diagnostic, with this code, at the position of `needle` in `text`. */
function expectOnly(text: string, code: Code, needle: string, nth = 0, set?: string[]) {
  const r = check(text, undefined, set);
  expect(r.pipeline).toBeUndefined();
  expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toHaveLength(1);
  const d = r.diagnostics[0]!;
  expect(d.code).toBe(code);
  const want = at(text, needle, nth);
  expect({ line: d.span?.line, col: d.span?.col }).toEqual(want);
  return d;
}

function fileWith(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const tested = new Set<Code>();
function code(c: Code, fn: () => void) {
  tested.add(c);
  it(`${c} ${CODES[c]}`, fn);
}

describe("diagnostic codes", () => {
  code("E0001", () => {
    const r = loadPipeline(join(dir, "missing.acpo"));
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]!.code).toBe("E0001");
    expect(r.diagnostics[0]!.message).toMatch(/no such file/);
  });
  code("E0002", () => {
    const r = loadPipeline(fileWith("latin1.acpo", Uint8Array.from([0x70, 0x69, 0xe9, 0x20, 0x7b])));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0002"]);
    expect(r.diagnostics[0]!.message).toMatch(/offset 2/);
  });
  code("E0003", () => {
    const r = loadPipeline(fileWith("binary.acpo", Uint8Array.from([0x70, 0x00, 0x01, 0x02])));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0003"]);
  });
  code("E0004", () => {
    const r = loadPipeline(fileWith("empty.acpo", "  \n\n"));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0004"]);
  });
  code("E0005", () => {
    const r = loadPipeline(fileWith("huge.acpo", "#".repeat(10 * 1024 * 1024)));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0005"]);
    expect(r.diagnostics[0]!.message).toMatch(/limited to/);
  });
  code("E0006", () => {
    const r = loadPipeline(fileWith("mac.acpo", "pipeline t {\r}\r"));
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0006"]);
    expect(r.diagnostics[0]!.message).toMatch(/bare carriage return \(CR, first at line 1, offset 12\)/);
  });
  code("E0101", () => {
    const text = withBody("  let x = 1 $ 2");
    const r = check(text);
    expect(r.diagnostics[0]!.code).toBe("E0101");
    expect(r.diagnostics[0]!.span).toMatchObject(at(text, "$"));
  });
  code("E0102", () => {
    const text = withBody("  let x = (1 + )");
    const d = expectOnly(text, "E0102", ")\n}");
    expect(d.message).toBe("expected an expression, found ')'");
  });
  code("E0103", () => {
    const text = withBody('  segment entropy { top 0.05 markers ["Then, "So"] }');
    const r = check(text);
    expect(r.diagnostics.some((d) => d.code === "E0103" && d.span?.line === at(text, '"So"').line)).toBe(true);
  });
  code("E0104", () => {
    const text = withBody("  let x = 0x10");
    const d = expectOnly(text, "E0104", "0x10");
    expect(d.message).toBe("`0x10` is not a number: the language has decimal numbers only");
    expect(d.hint).toBe("write 16");
  });
  code("E0105", () => {
    const text = withBody(`  let x = ${"(".repeat(101)}1${")".repeat(101)}`);
    const d = expectOnly(text, "E0105", "(1)");
    expect(d.message).toBe("expression or block nested more than 100 levels deep");
  });
  code("E0201", () => {
    const text = withBody("  let x = mean(H over seq) + Hh");
    const d = expectOnly(text, "E0201", "Hh");
    expect(d.hint).toBe("did you mean `H`?");
  });
  code("E0202", () => {
    const text = withBody("  param a = 1\n  param a = 2");
    const d = expectOnly(text, "E0202", "a = 2");
    expect(d.hint).toMatch(/first defined at line/);
  });
  code("E0203", () => {
    const text = withBody("").replace("max_tokens 16", "max_tokens 16  temprature 1.0");
    const d = expectOnly(text, "E0203", "temprature");
    expect(d.hint).toBe("did you mean `temperature`?");
  });
  code("E0204", () => {
    const text = withBody("  let x = sqr(2)");
    const d = expectOnly(text, "E0204", "sqr");
    expect(d.hint).toBe("did you mean `sqrt`?");
  });
  code("E0205", () => {
    expectOnly(withBody("  let x = clip(H, 0)"), "E0205", "clip(H, 0)");
  });
  code("E0206", () => {
    const text = withBody("  let x = k3 * 2");
    const d = expectOnly(text, "E0206", "k3");
    expect(d.message).toMatch(/only available in a stage's `kl`/);
  });
  code("E0207", () => {
    const text = withBody("  let a = b + 1\n  let b = a * 2");
    const r = check(text);
    expect(r.diagnostics.map((d) => d.code)).toContain("E0207");
    expect(r.diagnostics.every((d) => d.code === "E0207")).toBe(true);
  });
  code("E0208", () => {
    const text = withBody("  let x = mean(r over seq)");
    const d = expectOnly(text, "E0208", "r over seq");
    expect(d.message).toMatch(/already a sequence-level value/);
  });
  code("E0301", () => {
    // A token-level value where a group-level one is required.
    const text = withBody("", { stage: false }) .replace("\n}\n", "\n  stage s until steps >= 5 { sample curriculum { priority 1 - H } }\n}\n");
    const d = expectOnly(text, "E0301", "1 - H");
    expect(d.message).toMatch(/at most group level, but this is a token-level value/);
  });
  code("E0302", () => {
    expectOnly(withBody("  let x = correct + 1"), "E0302", "correct");
  });
  code("E0303", () => {
    const text = withBody("").replace("lr 1e-5", "lr H");
    expectOnly(text, "E0303", "H }");
  });
  code("E0401", () => {
    const text = withBody("").replace("group 4", "group -4");
    const d = expectOnly(text, "E0401", "-4");
    expect(d.message).toBe("`group` must be an integer in [2, 65535], found -4");
  });
  code("E0402", () => {
    const text = withBody("").replace("aggregate token_mean", "aggregate tokens_mean");
    const d = expectOnly(text, "E0402", "tokens_mean");
    expect(d.hint).toBe("did you mean `token_mean`?");
  });
  code("E0403", () => {
    const text = withBody("").replace("  optimizer adamw { lr 1e-5 }\n", "");
    const d = expectOnly(text, "E0403", "t {");
    expect(d.message).toMatch(/needs `optimizer`/);
  });
  code("E0404", () => {
    const text = withBody("", { advantage: false }) + "";
    const t2 = text.replace("\n}\n", "\n  advantage = r * C\n}\n");
    const d = expectOnly(t2, "E0404", "C\n");
    expect(d.message).toMatch(/no `attribution`/);
  });
  code("E0501", () => {
    const text = withBody("  stage a until steps >= 1 then b { }\n  stage b until steps >= 1 then a { }", { stage: false });
    expectOnly(text, "E0501", "a {");
  });
  code("E0502", () => {
    const text = withBody("  stage a until steps >= 1 then c { }\n  stage b until steps >= 1 { }\n  stage c until steps >= 1 { }", { stage: false });
    expectOnly(text, "E0502", "b until");
  });
  code("E0503", () => {
    const text = withBody("  stage a until steps >= 1 { reference b }\n  stage b until steps >= 1 { }", { stage: false });
    const d = expectOnly(text, "E0503", "b }");
    expect(d.message).toMatch(/has not finished/);
  });
  code("E0601", () => {
    const text = withBody("").replace("pipeline t {", 'pipeline t extends "no_such_parent.acpo" {');
    expectOnly(text, "E0601", '"no_such_parent.acpo"');
  });
  code("E0602", () => {
    const text = withBody("  param alpha = 0.5");
    const r = check(text, undefined, ["alpah=0.1"]);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "E0602", hint: "did you mean `alpha`?", span: { file: "--set[1]", line: 1, col: 1 } });
  });

  code("W0501", () => {
    const text = withBody("", { stage: false }).replace("\n}\n", "\n  stage s until steps < 1 { }\n}\n");
    const r = check(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.warnings.map((w) => ({ code: w.code, ...at(text, "steps < 1") }))).toEqual([{ code: "W0501", line: r.warnings[0]!.span!.line, col: r.warnings[0]!.span!.col }]);
  });

  it("covers every code", () => {
    expect([...tested].sort()).toEqual(Object.keys(CODES).sort());
  });
});
