import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exprValue, parseEquation, printExpr, type Expr } from "../../runtime/engine/tasks/expr.js";

const exprArb = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer({ min: 0, max: 50 }).map((value): Expr => ({ kind: "num", value })),
    fc.record({ kind: fc.constant("bin" as const), op: fc.constantFrom("+", "-", "*", "/" as const), left: tie("e"), right: tie("e") }) as fc.Arbitrary<Expr>,
  ),
})).e;

const leaves = (e: Expr): number[] => (e.kind === "num" ? [e.value] : [...leaves(e.left), ...leaves(e.right)]);

describe("countdown equation parser", () => {
  it("parses what printExpr prints, to the same value and the same literals", () => {
    fc.assert(
      fc.property(exprArb, fc.boolean(), (e, spaced) => {
        const src = printExpr(e, spaced);
        const p = parseEquation(src);
        if (!p.ok) throw new Error(`${src}: ${p.reason}`);
        expect(p.numbers).toEqual(leaves(e));
        const a = exprValue(e);
        const b = exprValue(p.expr);
        expect(b.ok).toBe(a.ok);
        if (a.ok && b.ok) expect(Math.abs(a.value - b.value)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(a.value)));
      }),
      { numRuns: 500 },
    );
  });

  it("applies precedence and left associativity", () => {
    const val = (s: string): number => {
      const p = parseEquation(s);
      if (!p.ok) throw new Error(p.reason);
      const v = exprValue(p.expr);
      if (!v.ok) throw new Error(v.reason);
      return v.value;
    };
    expect(val("2+3*4")).toBe(14);
    expect(val("(2+3)*4")).toBe(20);
    expect(val("10-4-3")).toBe(3);
    expect(val("64/8/2")).toBe(4);
    expect(val("10-(4-3)")).toBe(9);
    expect(val(" 0 ")).toBe(0);
  });

  it("names what is wrong with malformed input", () => {
    const reason = (s: string): string => {
      const p = parseEquation(s);
      return p.ok ? "ok" : p.reason;
    };
    expect(reason("")).toBe("expected a number or '(' at end of input");
    expect(reason("7+")).toBe("expected a number or '(' at end of input");
    expect(reason("(7+3")).toBe("expected ')' at end of input");
    expect(reason("7 3")).toBe('unexpected input at 2, found "3"');
    expect(reason("7+x")).toBe('illegal character "x" at 2');
    expect(reason("1234567890123456")).toMatch(/longer than 15 digits/);
    expect(reason("()")).toMatch(/expected a number or '\(' at 1/);
  });
});
