// The grammar, pure: no semantics here. The CST it builds is turned into the AST by
// visitor.ts. Error recovery is on, so one run reports several syntax errors.
//
//   file      = "pipeline" Name [ "extends" String ] "{" { item } "}"
//   item      = param | let | fn | stage | advantage | setting
//   setting   = Name ( block | value [ block ] ) [ ";" ]
//   value     = list | expr [ ".." expr ]
// (the full EBNF is in spec/language.md)
import { CstParser, EOF, type CstNode, type IParserErrorMessageProvider, type IRecognitionException, type IToken, type TokenType } from "chevrotain";
import * as T from "./lexer.js";
import { MAX_NESTING } from "./limits.js";

export { MAX_NESTING };

function tokenText(t: IToken): string {
  if (t.tokenType === EOF) return "end of file";
  return `'${t.image.length > 30 ? t.image.slice(0, 30) + "…" : t.image}'`;
}

function label(t: TokenType): string {
  return t.LABEL ?? t.name;
}

const EXPRESSION_STARTS = new Set([T.If, T.Not, T.Minus, T.NumberLit, T.StringLit, T.True, T.False, T.Identifier, T.LParen].map(label));

/** The tokens that could come next, with expression starters folded into "an expression". */
function describePaths(paths: TokenType[][][]): string {
  const firsts = new Set<string>();
  for (const alt of paths) for (const path of alt) if (path[0]) firsts.add(label(path[0]));
  const all = [...firsts];
  const exprLike = all.filter((f) => EXPRESSION_STARTS.has(f));
  if (exprLike.length >= 4) {
    const rest = all.filter((f) => !EXPRESSION_STARTS.has(f));
    return [...rest, "an expression"].join(" or ");
  }
  return all.length <= 2 ? all.join(" or ") : `one of ${all.join(", ")}`;
}

/** Messages in the language of the user, not of the parser generator. */
const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual }) {
    return `expected ${label(expected)}, found ${tokenText(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `unexpected ${tokenText(firstRedundant)} after the end of the pipeline`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, ruleName }) {
    const what = ruleName === "atom" ? "an expression" : describePaths(expectedPathsPerAlt);
    return `expected ${what}, found ${tokenText(actual[0]!)}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual }) {
    return `expected ${describePaths([expectedIterationPaths])}, found ${tokenText(actual[0]!)}`;
  },
};


/** Thrown from inside the parser when input nests deeper than MAX_NESTING; ends the parse. */
export class TooDeep extends Error {
  constructor(readonly token: IToken) {
    super(`nested more than ${MAX_NESTING} levels deep`);
  }
}

class AcpoParser extends CstParser {
  private depth = 0;

  constructor() {
    super(T.allTokens, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 3, nodeLocationTracking: "onlyOffset" });
    this.performSelfAnalysis();
  }

  /** Run `body` one nesting level deeper; past MAX_NESTING, stop the parse at the current token. */
  private nested(body: () => void): void {
    this.ACTION(() => {
      if (++this.depth > MAX_NESTING) throw new TooDeep(this.LA(1));
    });
    try {
      body();
    } finally {
      this.ACTION(() => this.depth--);
    }
  }

  /** Start a parse of `tokens`. */
  begin(tokens: IToken[]): void {
    this.depth = 0;
    this.input = tokens;
  }

  file = this.RULE("file", () => {
    this.CONSUME(T.Pipeline);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.OPTION(() => {
      this.CONSUME(T.Extends);
      this.CONSUME(T.StringLit, { LABEL: "parent" });
    });
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.item));
    this.CONSUME(T.RCurly);
  });

  item = this.RULE("item", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.paramDecl) },
      { ALT: () => this.SUBRULE(this.letDecl) },
      { ALT: () => this.SUBRULE(this.fnDecl) },
      { ALT: () => this.SUBRULE(this.stageDecl) },
      { ALT: () => this.SUBRULE(this.advantageDecl) },
      { ALT: () => this.SUBRULE(this.setting) },
    ]);
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  paramDecl = this.RULE("paramDecl", () => {
    this.CONSUME(T.Param);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr, { LABEL: "value" });
    this.OPTION(() => {
      this.CONSUME(T.In);
      this.CONSUME(T.LBracket);
      this.SUBRULE2(this.expr, { LABEL: "lo" });
      this.CONSUME(T.Comma);
      this.SUBRULE3(this.expr, { LABEL: "hi" });
      this.CONSUME(T.RBracket);
    });
  });

  letDecl = this.RULE("letDecl", () => {
    this.CONSUME(T.Let);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr, { LABEL: "value" });
  });

  fnDecl = this.RULE("fnDecl", () => {
    this.CONSUME(T.Fn);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.CONSUME2(T.Identifier, { LABEL: "params" }) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr, { LABEL: "body" });
  });

  stageDecl = this.RULE("stageDecl", () => {
    this.CONSUME(T.Stage);
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.CONSUME(T.Until);
    this.SUBRULE(this.expr, { LABEL: "until" });
    this.OPTION(() => {
      this.CONSUME(T.Then);
      this.CONSUME2(T.Identifier, { LABEL: "next" });
    });
    this.SUBRULE(this.block);
  });

  advantageDecl = this.RULE("advantageDecl", () => {
    this.CONSUME(T.Advantage);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr, { LABEL: "value" });
  });

  setting = this.RULE("setting", () => {
    this.CONSUME(T.Identifier, { LABEL: "key" });
    this.OR([
      { ALT: () => this.SUBRULE(this.block) },
      {
        ALT: () => {
          this.SUBRULE(this.value);
          this.OPTION(() => this.SUBRULE2(this.block));
        },
      },
    ]);
    this.OPTION2(() => this.CONSUME(T.Semicolon));
  });

  block = this.RULE("block", () => {
    this.nested(() => {
      this.CONSUME(T.LCurly);
      this.MANY(() => this.SUBRULE(this.setting));
      this.CONSUME(T.RCurly);
    });
  });

  value = this.RULE("value", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.list) },
      {
        ALT: () => {
          this.SUBRULE(this.expr, { LABEL: "lo" });
          this.OPTION(() => {
            this.CONSUME(T.DotDot);
            this.SUBRULE2(this.expr, { LABEL: "hi" });
          });
        },
      },
    ]);
  });

  list = this.RULE("list", () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () =>
        this.OR([
          { ALT: () => this.CONSUME(T.MetricAtK, { LABEL: "metric" }) },
          { ALT: () => this.SUBRULE(this.expr, { LABEL: "items" }) },
        ]),
    });
    this.CONSUME(T.RBracket);
  });

  // Every nesting of the grammar (parentheses, call arguments, `if` parts, blocks) passes
  // through `expr` or `block`; `nested` bounds how deep they go before the recursion of the
  // parser (and of every pass after it) could exhaust the stack.
  expr = this.RULE("expr", () => {
    this.nested(() => this.OR([{ ALT: () => this.SUBRULE(this.ifExpr) }, { ALT: () => this.SUBRULE(this.orExpr) }]));
  });

  // `else if` chains are a flat list here, not a nesting: a chain of 1,000 `else if`s costs
  // no stack. The last `else` takes a non-`if` expression; any `else if` is a chain link.
  ifExpr = this.RULE("ifExpr", () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expr, { LABEL: "cond" });
    this.CONSUME(T.Then);
    this.SUBRULE2(this.expr, { LABEL: "yes" });
    this.MANY(() => {
      this.CONSUME(T.Else, { LABEL: "elifs" });
      this.CONSUME2(T.If);
      this.SUBRULE3(this.expr, { LABEL: "cond" });
      this.CONSUME2(T.Then);
      this.SUBRULE4(this.expr, { LABEL: "yes" });
    });
    this.CONSUME3(T.Else);
    this.SUBRULE(this.orExpr, { LABEL: "no" });
  });

  orExpr = this.RULE("orExpr", () => {
    this.SUBRULE(this.andExpr, { LABEL: "operands" });
    this.MANY(() => {
      this.CONSUME(T.Or, { LABEL: "ops" });
      this.SUBRULE2(this.andExpr, { LABEL: "operands" });
    });
  });

  andExpr = this.RULE("andExpr", () => {
    this.SUBRULE(this.notExpr, { LABEL: "operands" });
    this.MANY(() => {
      this.CONSUME(T.And, { LABEL: "ops" });
      this.SUBRULE2(this.notExpr, { LABEL: "operands" });
    });
  });

  // `not not c` is a list of prefixes, not a nesting.
  notExpr = this.RULE("notExpr", () => {
    this.MANY(() => this.CONSUME(T.Not, { LABEL: "ops" }));
    this.SUBRULE(this.cmpExpr, { LABEL: "operand" });
  });

  cmpExpr = this.RULE("cmpExpr", () => {
    this.SUBRULE(this.addExpr, { LABEL: "operands" });
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Less, { LABEL: "ops" }) },
        { ALT: () => this.CONSUME(T.LessEq, { LABEL: "ops" }) },
        { ALT: () => this.CONSUME(T.Greater, { LABEL: "ops" }) },
        { ALT: () => this.CONSUME(T.GreaterEq, { LABEL: "ops" }) },
        { ALT: () => this.CONSUME(T.EqEq, { LABEL: "ops" }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: "ops" }) },
      ]);
      this.SUBRULE2(this.addExpr, { LABEL: "operands" });
    });
  });

  addExpr = this.RULE("addExpr", () => {
    this.SUBRULE(this.mulExpr, { LABEL: "operands" });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: "ops" }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: "ops" }) }]);
      this.SUBRULE2(this.mulExpr, { LABEL: "operands" });
    });
  });

  mulExpr = this.RULE("mulExpr", () => {
    this.SUBRULE(this.unary, { LABEL: "operands" });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star, { LABEL: "ops" }) }, { ALT: () => this.CONSUME(T.Slash, { LABEL: "ops" }) }]);
      this.SUBRULE2(this.unary, { LABEL: "operands" });
    });
  });

  // `- - x` is a list of prefixes, not a nesting.
  unary = this.RULE("unary", () => {
    this.MANY(() => this.CONSUME(T.Minus, { LABEL: "ops" }));
    this.SUBRULE(this.power, { LABEL: "operand" });
  });

  // Right-associative, binds tighter than unary minus on its left: -x^2 = -(x^2), and
  // a ^ -b ^ c = a ^ (-(b ^ c)). A chain is a flat list of exponents; the visitor folds it
  // from the right.
  power = this.RULE("power", () => {
    this.SUBRULE(this.atom, { LABEL: "base" });
    this.MANY(() => {
      this.CONSUME(T.Caret, { LABEL: "carets" });
      this.SUBRULE(this.exponent, { LABEL: "exponents" });
    });
  });

  exponent = this.RULE("exponent", () => {
    this.MANY(() => this.CONSUME(T.Minus, { LABEL: "ops" }));
    this.SUBRULE(this.atom, { LABEL: "operand" });
  });

  atom = this.RULE("atom", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.SUBRULE(this.nameOrCall) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expr, { LABEL: "inner" });
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });

  nameOrCall = this.RULE("nameOrCall", () => {
    this.CONSUME(T.Identifier, { LABEL: "name" });
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg, { LABEL: "args" }) });
      this.CONSUME(T.RParen);
    });
  });

  arg = this.RULE("arg", () => {
    this.SUBRULE(this.expr, { LABEL: "value" });
    this.OPTION(() => {
      this.CONSUME(T.Over);
      this.CONSUME(T.Identifier, { LABEL: "level" });
    });
  });
}

/** One parser instance, reused: chevrotain parsers are built once and reset per input. */
export const parser = new AcpoParser();

export interface ParseOutput {
  cst: CstNode | undefined;
  /** Set when the input nested deeper than MAX_NESTING: the parse stopped at this token. */
  tooDeep?: IToken;
  lexErrors: { offset: number; length: number; message: string }[];
  parseErrors: IRecognitionException[];
  tokens: IToken[];
}

export function parseText(text: string): ParseOutput {
  const lexed = T.lexer.tokenize(text);
  parser.begin(lexed.tokens.filter((t) => t.tokenType !== T.UnterminatedString));
  let cst: CstNode | undefined;
  let tooDeep: IToken | undefined;
  try {
    cst = parser.file();
  } catch (e) {
    if (!(e instanceof TooDeep)) throw e;
    tooDeep = e.token;
  }
  return {
    cst,
    tooDeep,
    lexErrors: lexed.errors.map((e) => ({ offset: e.offset, length: e.length, message: e.message })),
    // Stopping early leaves input unread; chevrotain then adds "not all input parsed", which would only repeat the point.
    parseErrors: tooDeep ? parser.errors.filter((e) => e.name !== "NotAllInputParsedException") : parser.errors,
    tokens: lexed.tokens,
  };
}
