// Source -> AST with lexical and syntax errors turned into positioned diagnostics.
import type { PipelineAst } from "./ast.js";
import type { Diagnostics } from "./diagnostics.js";
import type { IToken } from "chevrotain";
import { KEYWORD_WORDS, MalformedNumber, NumberLit, UnterminatedString } from "./lexer.js";
import { MAX_NESTING, parseText } from "./parser.js";
import type { Source } from "./source.js";
import { AstBuilder } from "./visitor.js";

export function parseSource(src: Source, diags: Diagnostics): PipelineAst | undefined {
  const out = parseText(src.text);
  for (const t of out.tokens) {
    if (t.tokenType === UnterminatedString) {
      diags.error("E0103", "unterminated string", src.span(t.startOffset, t.endOffset! + 1), 'close it with `"` on the same line');
    } else if (t.tokenType === MalformedNumber || t.tokenType === NumberLit) {
      const bad = numberProblem(t);
      if (bad) diags.error("E0104", bad.message, src.span(t.startOffset, t.endOffset! + 1), bad.hint);
    }
  }
  for (const e of out.lexErrors) {
    const ch = src.text.slice(e.offset, e.offset + e.length);
    const shown = ch.length > 20 ? ch.slice(0, 20) + "…" : ch;
    diags.error("E0101", `unexpected character${e.length > 1 ? "s" : ""} '${shown}'`, src.span(e.offset, e.offset + e.length), "the language uses letters, digits, strings in double quotes, and + - * / ^ < > = ! ( ) [ ] { } , ; ..");
  }
  for (const e of out.parseErrors) {
    // At end of input the token has no offset; point just past the last character.
    const t = e.token;
    const start = Number.isFinite(t.startOffset) ? t.startOffset : src.text.trimEnd().length;
    const end = Number.isFinite(t.endOffset) ? t.endOffset! + 1 : start + 1;
    let hint: string | undefined;
    if (KEYWORD_WORDS.has(t.image) && /expected a name/.test(e.message)) hint = `'${t.image}' is a reserved word; choose another name`;
    else if (/found end of file/.test(e.message)) hint = "the file ends early: is a closing '}' or ')' missing?";
    diags.error("E0102", e.message, src.span(start, Math.min(end, src.text.length)), hint);
  }
  if (out.tooDeep) {
    const t = out.tooDeep;
    const start = Number.isFinite(t.startOffset) ? t.startOffset : src.text.trimEnd().length;
    diags.error(
      "E0105",
      `expression or block nested more than ${MAX_NESTING} levels deep`,
      src.span(start, Math.min(start + Math.max(1, t.image.length), src.text.length)),
      "parentheses, call arguments, `if` parts and `{}` blocks each count one level; name inner parts with `let`",
    );
    return undefined;
  }
  return new AstBuilder(src).pipeline(out.cst);
}

/** What is wrong with a number token, or undefined when it is a finite float64 that keeps its value's sign of zero. */
function numberProblem(t: IToken): { message: string; hint: string } | undefined {
  const s = t.image;
  if (t.tokenType === MalformedNumber) {
    if (/^0[xob]/i.test(s)) return { message: `\`${s}\` is not a number: the language has decimal numbers only`, hint: literalHint(s) };
    if (s.includes("_")) return { message: `\`${s}\` is not a number: \`_\` cannot separate digits`, hint: `write ${s.replace(/_/g, "")}` };
    return { message: `\`${s}\` is not a number: a number cannot run into letters`, hint: "put a space or an operator between them, e.g. `2 * x`, or write an exponent as `1e-6`" };
  }
  return literalRange(s);
}

/** `1e999` (infinite) and `1e-400` (rounds to 0) would silently change the value written. */
export function literalRange(s: string): { message: string; hint: string } | undefined {
  const v = Number(s);
  if (!Number.isFinite(v)) return { message: `\`${s}\` is too large for a 64-bit float (it would be Infinity)`, hint: "numbers must be below 1.8e308" };
  if (v === 0 && /[1-9]/.test(s.split(/[eE]/)[0]!)) return { message: `\`${s}\` is too small for a 64-bit float (it would be 0)`, hint: "numbers other than 0 must be at least 5e-324 in size; write 0 if you mean 0" };
  return undefined;
}

function literalHint(s: string): string {
  const base = /^0x/i.test(s) ? 16 : /^0o/i.test(s) ? 8 : 2;
  const digits = s.slice(2);
  const v = /^[0-9a-f]+$/i.test(digits) ? Number.parseInt(digits, base) : NaN;
  return Number.isFinite(v) && v.toString(base) === digits.toLowerCase().replace(/^0+(?=.)/, "") ? `write ${v}` : "write it in decimal";
}
