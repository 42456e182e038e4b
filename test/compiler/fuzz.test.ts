// Property: whatever mutation of an example we feed it, the checker returns either a
// pipeline, which printed and checked again means the same, or at least one diagnostic
// with a valid position; it never throws.
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lexer } from "../../compiler/lexer.js";
import { check, meaning, reprinted } from "./helpers.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".acpo")).map((f) => ({ path: `examples/${f}`, text: readFileSync(`examples/${f}`, "utf8") }));

/** Source cut into tokens and the whitespace/comments between them, so mutations act on tokens. */
function pieces(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (const t of lexer.tokenize(text).tokens) {
    if (t.startOffset > at) out.push(text.slice(at, t.startOffset));
    out.push(t.image);
    at = t.startOffset + t.image.length;
  }
  out.push(text.slice(at));
  return out;
}

const JUNK = ["{", "}", "(", ")", "[", "]", "..", "=", "over", "stage", "let", "fn", "if", "then", "@", "$", '"', "\u0000", "\uFFFD", "é", "-", "1e999", "0", "H", "group", "pipeline", "\n", "#", ";", ",", "mean(", "then end", "extends"];

const mutation = fc.oneof(
  fc.record({ op: fc.constant("delete" as const), i: fc.nat() }),
  fc.record({ op: fc.constant("duplicate" as const), i: fc.nat() }),
  fc.record({ op: fc.constant("swap" as const), i: fc.nat(), j: fc.nat() }),
  fc.record({ op: fc.constant("junk" as const), i: fc.nat(), junk: fc.oneof(fc.constantFrom(...JUNK), fc.string({ maxLength: 6 })) }),
);

function apply(parts: string[], muts: { op: string; i: number; j?: number; junk?: string }[]): string {
  const p = [...parts];
  for (const m of muts) {
    if (p.length === 0) break;
    const i = m.i % p.length;
    if (m.op === "delete") p.splice(i, 1);
    else if (m.op === "duplicate") p.splice(i, 0, p[i]!);
    else if (m.op === "swap") {
      const j = (m.j ?? 0) % p.length;
      [p[i], p[j]] = [p[j]!, p[i]!];
    } else p.splice(i, 0, ` ${m.junk} `);
  }
  return p.join("");
}

describe("mutated examples", () => {
  it("never throw; give a pipeline or positioned diagnostics", () => {
    fc.assert(
      fc.property(fc.constantFrom(...examples), fc.array(mutation, { minLength: 1, maxLength: 4 }), (ex, muts) => {
        const text = apply(pieces(ex.text), muts);
        const r = check(text, ex.path);
        for (const d of r.diagnostics) expect(d.message).not.toMatch(/internal compiler error/);
        if (r.pipeline) {
          expect(r.diagnostics).toEqual([]);
          const again = reprinted(r.pipeline);
          expect(again.diagnostics).toEqual([]);
          expect(meaning(again.pipeline!)).toEqual(meaning(r.pipeline));
          return;
        }
        expect(r.diagnostics.length).toBeGreaterThan(0);
        for (const d of r.diagnostics) {
          if (!d.span) {
            expect(["E0002", "E0003", "E0004", "E0005"]).toContain(d.code);
            continue;
          }
          const src = r.sources.get(d.span.file);
          expect(src, d.span.file).toBeDefined();
          expect(d.span.line).toBeGreaterThanOrEqual(1);
          expect(d.span.line).toBeLessThanOrEqual(src!.lineCount);
          expect(d.span.col).toBeGreaterThanOrEqual(1);
          expect(d.span.col).toBeLessThanOrEqual(src!.lineText(d.span.line).length + 1);
          expect(d.span.end).toBeGreaterThanOrEqual(d.span.start);
        }
      }),
      { numRuns: 300, seed: 20251128 },
    );
  });
});
