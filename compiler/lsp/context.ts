// Where the cursor is, for completion: the innermost block and whether a setting key, a
// value, an expression, a level after `over`, a metric or a stage name comes next. Read from
// the lexer's tokens before the cursor rather than from the AST, because the text being typed
// rarely parses.
import type { IToken } from "chevrotain";
import type { Context } from "../builtins.js";
import { lexer } from "../lexer.js";
import { BLOCK_KEYS, blockName, isBlockKey, SETTING_KINDS } from "./settings-table.js";

export type Slot =
  /** A setting key (or, at the top level, a statement keyword). */
  | { kind: "key" }
  /** The kind word after `task`, `segment`, ... */
  | { kind: "kind"; key: string }
  /** An expression: names, built-ins, functions. */
  | { kind: "expr"; context: Context; fnParams: string[] }
  | { kind: "over" }
  /** An item of `metrics [...]`; `samples` is the block's own count when written. */
  | { kind: "metric"; samples?: number }
  /** A stage name after `then` or `reference`. */
  | { kind: "stage" }
  | { kind: "none" };

export interface CursorContext {
  /** BLOCK_KEYS entry of the innermost block; undefined outside the pipeline or in a block the table does not know. */
  block: string | undefined;
  slot: Slot;
  /** Names this file declares with param, let and fn (read from tokens, so half-typed files count). */
  declared: { param: string[]; let: string[]; fn: string[]; stage: string[] };
}

interface Frame {
  block: string | undefined;
  /** Tokens written directly in this block (nested blocks appear as their `{` and `}` only). */
  tokens: IToken[];
}

const OPERATORS = new Set(["Plus", "Minus", "Star", "Slash", "Caret", "Less", "Greater", "LessEq", "GreaterEq", "EqEq", "NotEq", "Equals", "LParen", "Comma", "DotDot", "LBracket"]);
const EXPR_KEYWORDS = new Set(["Kw_if", "Kw_then", "Kw_else", "Kw_and", "Kw_or", "Kw_not", "Kw_until", "Kw_in"]);
const BOUNDARIES = new Set(["LCurly", "RCurly", "Semicolon"]);

function type(t: IToken | undefined): string {
  return t?.tokenType.name ?? "";
}

export function cursorContext(text: string, offset: number): CursorContext {
  let tokens = lexer.tokenize(text.slice(0, offset)).tokens;
  const last = tokens[tokens.length - 1];
  // The word being typed is what completion replaces, not context.
  if (last && last.endOffset! + 1 === offset && /^[A-Za-z_]/.test(last.image)) tokens = tokens.slice(0, -1);
  const declared = declaredNames(lexer.tokenize(text).tokens);
  const frames = framesOf(tokens);
  const frame = frames[frames.length - 1];
  if (!frame) return { block: undefined, slot: { kind: "none" }, declared };
  return { block: frame.block, slot: slotIn(frame), declared };
}

/** Open blocks at the end of `tokens`, outermost first. */
function framesOf(tokens: readonly IToken[]): Frame[] {
  const frames: Frame[] = [];
  for (const t of tokens) {
    const top = frames[frames.length - 1];
    if (type(t) === "LCurly") {
      top?.tokens.push(t);
      frames.push({ block: top ? headerBlock(top.tokens.slice(0, -1)) : "pipeline", tokens: [] });
    } else if (type(t) === "RCurly") {
      frames.pop();
      frames[frames.length - 1]?.tokens.push(t);
    } else top?.tokens.push(t);
  }
  return frames;
}

/** The tokens of the statement the block's end is in: those after the last `{`, `}` or `;`. */
function statement(tokens: readonly IToken[]): IToken[] {
  let i = tokens.length;
  while (i > 0 && !BOUNDARIES.has(type(tokens[i - 1]))) i--;
  return tokens.slice(i);
}

/** Which block a `{` opens, from the tokens before it: `stage ... {`, `key {` or `key kind {`. */
function headerBlock(before: readonly IToken[]): string | undefined {
  const stmt = statement(before);
  if (stmt.some((t) => type(t) === "Kw_stage")) return "stage";
  const t1 = stmt[stmt.length - 1];
  const t2 = stmt[stmt.length - 2];
  if (type(t1) !== "Identifier") return undefined;
  if (type(t2) === "Identifier" && isBlockKey(t2!.image)) return blockName(t2!.image, t1!.image);
  return blockName(t1!.image, undefined);
}

function slotIn(frame: Frame): Slot {
  const stmt = statement(frame.tokens);
  const prev = frame.tokens[frame.tokens.length - 1];
  const keys = frame.block ? (BLOCK_KEYS[frame.block] ?? []) : [];
  if (type(prev) === "Kw_over") return { kind: "over" };
  const stageHeader = frame.block === "pipeline" && stmt.some((t) => type(t) === "Kw_stage");
  if (stageHeader && type(prev) === "Kw_then") return { kind: "stage" };
  if (type(prev) === "Identifier" && prev!.image === "reference" && frame.block === "stage") return { kind: "stage" };
  const list = openBracketKey(stmt);
  if (list === "metrics") return { kind: "metric", samples: samplesIn(frame.tokens) };
  const exprSlot = (): Slot => ({ kind: "expr", context: exprContext(frame, stmt, stageHeader), fnParams: fnParams(stmt) });
  if (list !== undefined || openParens(stmt) > 0) return exprSlot();
  if (OPERATORS.has(type(prev)) || EXPR_KEYWORDS.has(type(prev))) return exprSlot();
  if (type(prev) === "Identifier" && keys.includes(prev!.image) && !OPERATORS.has(type(frame.tokens[frame.tokens.length - 2]))) {
    return SETTING_KINDS[prev!.image] ? { kind: "kind", key: prev!.image } : exprSlot();
  }
  // After a finished value (a number, a string, a closing bracket or a name) a new setting begins.
  return frame.block === undefined ? { kind: "none" } : { kind: "key" };
}

/** The key of the list `[` left open in the statement, or undefined. */
function openBracketKey(stmt: readonly IToken[]): string | undefined {
  let depth = 0;
  for (let i = stmt.length - 1; i >= 0; i--) {
    const ty = type(stmt[i]);
    if (ty === "RBracket") depth++;
    else if (ty === "LBracket") {
      if (depth === 0) return stmt[i - 1]?.image ?? "";
      depth--;
    }
  }
  return undefined;
}

function openParens(stmt: readonly IToken[]): number {
  let n = 0;
  for (const t of stmt) n += type(t) === "LParen" ? 1 : type(t) === "RParen" ? -1 : 0;
  return n;
}

/** `samples N` written earlier in the block, for `acc@N`. */
function samplesIn(tokens: readonly IToken[]): number | undefined {
  for (let i = tokens.length - 2; i >= 0; i--) if (tokens[i]!.image === "samples" && type(tokens[i + 1]) === "NumberLit") return Number(tokens[i + 1]!.image);
  return undefined;
}

/** Which built-ins the expression may use: `until` and `kl` admit a few of their own. */
function exprContext(frame: Frame, stmt: readonly IToken[], stageHeader: boolean): Context {
  if (stageHeader && stmt.some((t) => type(t) === "Kw_until")) return "until";
  if (frame.block !== "stage") return "any";
  const keys = BLOCK_KEYS.stage!;
  for (let i = frame.tokens.length - 1; i >= 0; i--) {
    const t = frame.tokens[i]!;
    if (type(t) === "Identifier" && keys.includes(t.image) && !OPERATORS.has(type(frame.tokens[i - 1]))) return t.image === "kl" ? "kl" : "any";
  }
  return "any";
}

/** Parameters of the fn whose body the statement is, when it is one: `fn w(H, C, A) = ...`. */
function fnParams(stmt: readonly IToken[]): string[] {
  let i = stmt.length - 1;
  while (i >= 0 && type(stmt[i]) !== "Kw_fn") {
    // Another declaration after the fn's: the cursor is not in the fn's body.
    if (["Kw_param", "Kw_let", "Kw_advantage", "Kw_stage"].includes(type(stmt[i]))) return [];
    i--;
  }
  if (i < 0) return [];
  const out: string[] = [];
  for (let j = i + 3; j < stmt.length && type(stmt[j]) !== "RParen"; j++) if (type(stmt[j]) === "Identifier") out.push(stmt[j]!.image);
  return out;
}

function declaredNames(tokens: readonly IToken[]): CursorContext["declared"] {
  const out: CursorContext["declared"] = { param: [], let: [], fn: [], stage: [] };
  tokens.forEach((t, i) => {
    const next = tokens[i + 1];
    if (type(next) !== "Identifier") return;
    const kind = type(t).replace(/^Kw_/, "");
    if (kind === "param" || kind === "let" || kind === "fn" || kind === "stage") out[kind].push(next!.image);
  });
  return out;
}
