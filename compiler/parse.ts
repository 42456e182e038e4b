// Source -> AST with lexical and syntax errors turned into positioned diagnostics.
import type { PipelineAst } from "./ast.js";
import type { Diagnostics } from "./diagnostics.js";
import { KEYWORD_WORDS, UnterminatedString } from "./lexer.js";
import { parseText } from "./parser.js";
import type { Source } from "./source.js";
import { AstBuilder } from "./visitor.js";

export function parseSource(src: Source, diags: Diagnostics): PipelineAst | undefined {
  const out = parseText(src.text);
  for (const t of out.tokens) {
    if (t.tokenType === UnterminatedString) {
      diags.error("E0103", "unterminated string", src.span(t.startOffset, t.endOffset! + 1), 'close it with `"` on the same line');
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
  return new AstBuilder(src).pipeline(out.cst);
}
