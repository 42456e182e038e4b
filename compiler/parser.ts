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

class AcpoParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, errorMessageProvider: messages, maxLookahead: 3, nodeLocationTracking: "onlyOffset" });
    this.performSelfAnalysis();
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
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.setting));
    this.CONSUME(T.RCurly);
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

  expr = this.RULE("expr", () => {
    this.OR([{ ALT: () => this.SUBRULE(this.ifExpr) }, { ALT: () => this.SUBRULE(this.orExpr) }]);
  });

  ifExpr = this.RULE("ifExpr", () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expr, { LABEL: "cond" });
    this.CONSUME(T.Then);
    this.SUBRULE2(this.expr, { LABEL: "yes" });
    this.CONSUME(T.Else);
    this.SUBRULE3(this.expr, { LABEL: "no" });
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

  notExpr = this.RULE("notExpr", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr, { LABEL: "operand" });
        },
      },
      { ALT: () => this.SUBRULE(this.cmpExpr, { LABEL: "operand" }) },
    ]);
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

  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary, { LABEL: "operand" });
        },
      },
      { ALT: () => this.SUBRULE(this.power, { LABEL: "operand" }) },
    ]);
  });

  // Right-associative, binds tighter than unary minus on its left: -x^2 = -(x^2).
  power = this.RULE("power", () => {
    this.SUBRULE(this.atom, { LABEL: "base" });
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.SUBRULE(this.unary, { LABEL: "exponent" });
    });
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
  lexErrors: { offset: number; length: number; message: string }[];
  parseErrors: IRecognitionException[];
  tokens: IToken[];
}

export function parseText(text: string): ParseOutput {
  const lexed = T.lexer.tokenize(text);
  parser.input = lexed.tokens.filter((t) => t.tokenType !== T.UnterminatedString);
  const cst = parser.file();
  return {
    cst,
    lexErrors: lexed.errors.map((e) => ({ offset: e.offset, length: e.length, message: e.message })),
    parseErrors: parser.errors,
    tokens: lexed.tokens,
  };
}
