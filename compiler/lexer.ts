// Tokens of the .acpo language, in one ordered list (chevrotain tries them in order).
// Keywords are structural words only; setting names (rollout, group, lr, ...) are plain
// identifiers, so the checker can suggest corrections for misspelt ones.
import { createToken, Lexer, type TokenType } from "chevrotain";

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: "Comment", pattern: /#[^\n]*/, group: Lexer.SKIPPED });

export const StringLit = createToken({ name: "StringLit", pattern: /"(?:[^"\\\n]|\\.)*"/, label: "a string" });
/** An opening quote with no closing quote on its line: lexed so the error says so. */
export const UnterminatedString = createToken({ name: "UnterminatedString", pattern: /"(?:[^"\\\n]|\\.)*/, label: "an unterminated string" });
// Digits after a '.' are required, so `3..4` lexes as 3, .., 4.
export const NumberLit = createToken({ name: "NumberLit", pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/, label: "a number" });
/**
 * A number run straight into letters or `_`: `0x10`, `1_000`, `2e`, `10steps`. Lexed as one
 * token so that the diagnostic names it (instead of "found 'x10'" further on); its category
 * is NumberLit, so the parser takes it where a number goes and reports nothing twice.
 */
export const MalformedNumber = createToken({
  name: "MalformedNumber",
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![eE][+-]?\d)[A-Za-z_][A-Za-z0-9_]*(?:\.\d+)?/,
  categories: [NumberLit],
  label: "a number",
});
/** A metric at k samples: acc@8, pass@16. */
export const MetricAtK = createToken({ name: "MetricAtK", pattern: /[A-Za-z_][A-Za-z0-9_]*@\d+/, label: "a metric such as acc@8" });
export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: "a name" });

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(word), longer_alt: Identifier, label: `'${word}'` });
}

export const Pipeline = keyword("pipeline");
export const Extends = keyword("extends");
export const Param = keyword("param");
export const Let = keyword("let");
export const Fn = keyword("fn");
export const Stage = keyword("stage");
export const Until = keyword("until");
export const Then = keyword("then");
export const If = keyword("if");
export const Else = keyword("else");
export const And = keyword("and");
export const Or = keyword("or");
export const Not = keyword("not");
export const Over = keyword("over");
export const In = keyword("in");
export const True = keyword("true");
export const False = keyword("false");
export const Advantage = keyword("advantage");

function punct(name: string, pattern: RegExp, text: string): TokenType {
  return createToken({ name, pattern, label: `'${text}'` });
}

export const DotDot = punct("DotDot", /\.\./, "..");
export const LessEq = punct("LessEq", /<=/, "<=");
export const GreaterEq = punct("GreaterEq", />=/, ">=");
export const EqEq = punct("EqEq", /==/, "==");
export const NotEq = punct("NotEq", /!=/, "!=");
export const Less = punct("Less", /</, "<");
export const Greater = punct("Greater", />/, ">");
export const Equals = punct("Equals", /=/, "=");
export const Plus = punct("Plus", /\+/, "+");
export const Minus = punct("Minus", /-/, "-");
export const Star = punct("Star", /\*/, "*");
export const Slash = punct("Slash", /\//, "/");
export const Caret = punct("Caret", /\^/, "^");
export const LParen = punct("LParen", /\(/, "(");
export const RParen = punct("RParen", /\)/, ")");
export const LCurly = punct("LCurly", /\{/, "{");
export const RCurly = punct("RCurly", /\}/, "}");
export const LBracket = punct("LBracket", /\[/, "[");
export const RBracket = punct("RBracket", /\]/, "]");
export const Comma = punct("Comma", /,/, ",");
export const Semicolon = punct("Semicolon", /;/, ";");

export const KEYWORDS = [Pipeline, Extends, Param, Let, Fn, Stage, Until, Then, If, Else, And, Or, Not, Over, In, True, False, Advantage];

/** Order matters: longer and more specific patterns first. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  UnterminatedString,
  MalformedNumber,
  NumberLit,
  MetricAtK,
  ...KEYWORDS,
  Identifier,
  DotDot,
  LessEq,
  GreaterEq,
  EqEq,
  NotEq,
  Less,
  Greater,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Caret,
  LParen,
  RParen,
  LCurly,
  RCurly,
  LBracket,
  RBracket,
  Comma,
  Semicolon,
];

export const lexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });

/** Words the language reserves; used to explain "expected a name, found 'stage'". */
export const KEYWORD_WORDS = new Set(KEYWORDS.map((k) => String(k.PATTERN).slice(1, -1)));
