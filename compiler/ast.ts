// The abstract syntax tree: plain data, every node with its source span. The checker
// fills in `level` and `type` on expressions and `ref` on names; nothing else mutates it.
import type { Span } from "./source.js";
export type { Span };
import type { Level } from "./levels.js";

/** Value types: numbers and truth values (a boolean mask is a value too). */
export type ValueType = "num" | "bool";

interface ExprBase {
  span: Span;
  /** Granularity, set by the checker. */
  level?: Level;
  /** num or bool, set by the checker. */
  type?: ValueType;
}

export interface NumberExpr extends ExprBase {
  kind: "number";
  value: number;
}
export interface BoolExpr extends ExprBase {
  kind: "bool";
  value: boolean;
}
/** Strings appear only as setting values (paths, markers), never in arithmetic. */
export interface StringExpr extends ExprBase {
  kind: "string";
  value: string;
}

/** What a name refers to, resolved by the checker. */
export type NameRef =
  | { kind: "builtin"; name: string }
  | { kind: "param"; name: string }
  | { kind: "let"; name: string }
  /** A parameter of the enclosing `fn` body instance: args[index] of the call. */
  | { kind: "arg"; index: number; name: string };

export interface NameExpr extends ExprBase {
  kind: "name";
  name: string;
  ref?: NameRef;
}

export type UnaryOp = "neg" | "not";
export interface UnaryExpr extends ExprBase {
  kind: "unary";
  op: UnaryOp;
  operand: Expr;
}

export type BinaryOp = "+" | "-" | "*" | "/" | "^" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "and" | "or";
export interface BinaryExpr extends ExprBase {
  kind: "binary";
  op: BinaryOp;
  left: Expr;
  right: Expr;
}

export interface IfExpr extends ExprBase {
  kind: "if";
  cond: Expr;
  then: Expr;
  else: Expr;
}

/** An argument of a call; `over` is present only on a reduction's first argument. */
export interface Arg {
  value: Expr;
  over?: { name: string; span: Span };
}

/**
 * A call as written: an elementwise built-in (abs, clip, ...), a reduction
 * (mean(x over group)), or a user `fn`. The checker rewrites it into the kinds below.
 */
export interface CallExpr extends ExprBase {
  kind: "call";
  callee: string;
  calleeSpan: Span;
  args: Arg[];
  /** For a user fn: the body instantiated at this call site, its names resolved and levels set. */
  body?: Expr;
}

export type Expr = NumberExpr | BoolExpr | StringExpr | NameExpr | UnaryExpr | BinaryExpr | IfExpr | CallExpr;

/** A setting's value: an expression, a range `a..b`, or a list `[x, y]`. */
export type Value =
  | { kind: "expr"; expr: Expr; span: Span }
  | { kind: "range"; lo: Expr; hi: Expr; span: Span }
  | { kind: "list"; items: ListItem[]; span: Span };

export type ListItem = { kind: "expr"; expr: Expr; span: Span } | { kind: "metric"; name: string; k: number; span: Span };

/** `key value { block }`: value and block are each optional, but not both absent. */
export interface Setting {
  kind: "setting";
  key: string;
  keySpan: Span;
  value?: Value;
  block?: Setting[];
  blockSpan?: Span;
  span: Span;
}

export interface ParamDecl {
  kind: "param";
  name: string;
  nameSpan: Span;
  value: Expr;
  range?: { lo: Expr; hi: Expr };
  span: Span;
}

export interface LetDecl {
  kind: "let";
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

export interface FnDecl {
  kind: "fn";
  name: string;
  nameSpan: Span;
  params: { name: string; span: Span }[];
  body: Expr;
  span: Span;
}

export interface StageDecl {
  kind: "stage";
  name: string;
  nameSpan: Span;
  until: Expr;
  next?: { name: string; span: Span };
  body: Setting[];
  span: Span;
}

export interface AdvantageDecl {
  kind: "advantage";
  value: Expr;
  span: Span;
}

export type Item = ParamDecl | LetDecl | FnDecl | StageDecl | AdvantageDecl | Setting;

export interface PipelineAst {
  name: string;
  nameSpan: Span;
  extends?: { path: string; span: Span };
  items: Item[];
  span: Span;
}
