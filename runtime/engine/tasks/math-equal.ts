// Whether two math answers are equal: as normalised strings, then by structure (intervals
// keep their brackets, tuples their order, sets and solution lists are unordered, an
// equation "x = 5" equals its right side when the left is a variable), then by value:
// LaTeX parsed by @cortex-js/compute-engine into MathJSON and evaluated here in float64
// (our own evaluator: the engine's own evaluation has no bound, and 10^{10^{10}} or
// 9999999! must not hang a training step), expressions with variables compared at fixed
// sample points. Percent: "25%" equals 25 and 0.25. Work is bounded by size: answers over
// MAX_MATH_CHARS characters or nested deeper than MAX_MATH_DEPTH compare as strings only.
import { ComputeEngine } from "@cortex-js/compute-engine";
import { mathKey, normalizeMath } from "./math-normalize.js";

export const MAX_MATH_CHARS = 400;
export const MAX_MATH_DEPTH = 24;
/** Relative tolerance of a value comparison (plus 1e-12 absolute near zero). */
export const MATH_RTOL = 1e-9;

let engine: ComputeEngine | null = null;
const ce = (): ComputeEngine => (engine ??= new ComputeEngine());

type Shape =
  | { kind: "scalar"; text: string }
  | { kind: "bracketed"; open: string; close: string; items: string[] }
  | { kind: "collection"; items: string[] }
  | { kind: "union"; parts: string[] }
  | { kind: "equation"; lhs: string; rhs: string };

/** `s` split at top-level occurrences of `sep` (outside (), [], {}, \{ \}). */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && (s[i + 1] === "{" || s[i + 1] === "}")) { depth += s[i + 1] === "{" ? 1 : -1; i++; continue; }
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (depth === 0 && s.startsWith(sep, i)) { out.push(s.slice(start, i).trim()); start = i + sep.length; i += sep.length - 1; }
  }
  out.push(s.slice(start).trim());
  return out;
}

/** Whether the bracket at 0 closes at the end (so "(1)+(2)" is not one group). */
function enclosed(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    if (depth === 0 && i < s.length - 1) return false;
  }
  return depth === 0;
}

function shapeOf(s: string): Shape {
  const union = splitTop(s, "\\cup");
  if (union.length > 1) return { kind: "union", parts: union };
  if (s.startsWith("\\{") && s.endsWith("\\}")) return { kind: "collection", items: splitTop(s.slice(2, -2), ",").filter((x) => x !== "") };
  const eq = splitTop(s, "=");
  if (eq.length === 2 && eq[0] !== "" && eq[1] !== "") return { kind: "equation", lhs: eq[0]!, rhs: eq[1]! };
  if (s.length >= 2 && "([".includes(s[0]!) && ")]".includes(s[s.length - 1]!) && enclosed(s.replace(/^\[/, "(").replace(/\]$/, ")"))) {
    const items = splitTop(s.slice(1, -1), ",");
    if (items.length >= 2) return { kind: "bracketed", open: s[0]!, close: s[s.length - 1]!, items };
  }
  const list = splitTop(s, ",");
  if (list.length >= 2) return { kind: "collection", items: list };
  return { kind: "scalar", text: s };
}

/** A variable name: "x", "y_1", "\theta" (what "x = 5" may name). */
const isVariable = (s: string): boolean => /^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?$/.test(s);

/** Whether `given` states the same answer as `expected` (both raw answer texts). */
export function mathEqual(expected: string, given: string): boolean {
  const a = normalizeMath(expected), b = normalizeMath(given);
  if (mathKey(a) === mathKey(b)) return true;
  if (a.length > MAX_MATH_CHARS || b.length > MAX_MATH_CHARS || depthOf(a) > MAX_MATH_DEPTH || depthOf(b) > MAX_MATH_DEPTH) return false;
  return shapesEqual(shapeOf(a), shapeOf(b), 0);
}

function depthOf(s: string): number {
  let d = 0, max = 0;
  for (const c of s) {
    if (c === "(" || c === "[" || c === "{") max = Math.max(max, ++d);
    else if (c === ")" || c === "]" || c === "}") d--;
  }
  return max;
}

function shapesEqual(a: Shape, b: Shape, level: number): boolean {
  if (level > 4) return false;
  const sub = (x: string, y: string): boolean => mathKey(x) === mathKey(y) || shapesEqual(shapeOf(x), shapeOf(y), level + 1);
  if (a.kind === "equation" && b.kind === "equation") return (sub(a.lhs, b.lhs) && sub(a.rhs, b.rhs)) || (sub(a.lhs, b.rhs) && sub(a.rhs, b.lhs));
  if (a.kind === "equation") return isVariable(a.lhs) && sub(a.rhs, render(b));
  if (b.kind === "equation") return isVariable(b.lhs) && sub(render(a), b.rhs);
  if (a.kind === "union" && b.kind === "union") return sameMultiset(a.parts, b.parts, sub);
  if (a.kind === "bracketed" && b.kind === "bracketed") {
    return a.open === b.open && a.close === b.close && a.items.length === b.items.length && a.items.every((x, i) => sub(x, b.items[i]!));
  }
  if (a.kind === "collection" && b.kind === "collection") return sameMultiset(a.items, b.items, sub);
  if (a.kind === "scalar" && b.kind === "scalar") return scalarsEqual(a.text, b.text);
  return false;
}

function render(s: Shape): string {
  switch (s.kind) {
    case "scalar": return s.text;
    case "bracketed": return `${s.open}${s.items.join(",")}${s.close}`;
    case "collection": return s.items.join(",");
    case "union": return s.parts.join("\\cup");
    case "equation": return `${s.lhs}=${s.rhs}`;
  }
}

/** Every item of `a` pairs with a distinct equal item of `b`. */
function sameMultiset(a: string[], b: string[], eq: (x: string, y: string) => boolean): boolean {
  if (a.length !== b.length || a.length > 32) return false;
  const used = new Array<boolean>(b.length).fill(false);
  return a.every((x) => {
    const j = b.findIndex((y, k) => !used[k] && eq(x, y));
    if (j < 0) return false;
    used[j] = true;
    return true;
  });
}

/** Two single expressions: by value, with percent read both ways when one side has it. */
function scalarsEqual(x: string, y: string): boolean {
  const px = x.endsWith("%"), py = y.endsWith("%");
  const ex = px ? x.slice(0, -1) : x, ey = py ? y.slice(0, -1) : y;
  if (px === py) return valuesEqual(ex, ey, 1);
  // "25%" = 25 = 0.25: the side without % may or may not have converted.
  const [pct, plain] = px ? [ex, ey] : [ey, ex];
  return valuesEqual(pct, plain, 1) || valuesEqual(pct, plain, 100);
}

type Json = unknown;

/**
 * LaTeX the engine is given: short, and only characters and commands of plain school
 * algebra. The engine's parser is slow on some hostile inputs (seconds for 300 characters
 * of \\sum, \\lim and unbalanced groups); those are compared as strings only.
 */
const PARSE_COMMANDS = new Set(["frac", "sqrt", "pi", "cdot", "times", "div", "infty", "ln", "log", "exp", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "theta", "alpha", "beta", "gamma", "lfloor", "rfloor", "lceil", "rceil", "pm", "mp"]);
export const MAX_PARSE_CHARS = 120;

export function parseable(latex: string): boolean {
  if (latex.length > MAX_PARSE_CHARS || !/^[0-9a-zA-Z+\-*/^_(){}[\].,!|' \\]*$/.test(latex)) return false;
  for (const m of latex.matchAll(/\\([a-zA-Z]+|.)/g)) if (!PARSE_COMMANDS.has(m[1]!)) return false;
  return true;
}

function parse(latex: string): Json | null {
  if (!parseable(latex)) return null;
  try {
    return ce().parse(latex).json;
  } catch {
    return null;
  }
}

/** a / scaleA == b by value (variables sampled), or the same MathJSON when neither evaluates. */
function valuesEqual(a: string, b: string, scaleA: number): boolean {
  const ja = parse(a), jb = parse(b);
  if (ja === null || jb === null || hasError(ja) || hasError(jb)) return false;
  const vars = [...new Set([...freeSymbols(ja), ...freeSymbols(jb)])];
  if (vars.length > 4) return false;
  let compared = 0;
  for (const point of SAMPLE_POINTS) {
    const env = new Map(vars.map((v, i) => [v, point[i]!]));
    const va = numericValue(ja, env) / scaleA, vb = numericValue(jb, env);
    if (Number.isNaN(va) && Number.isNaN(vb)) continue;
    if (!close(va, vb)) return false;
    compared++;
  }
  if (compared > 0) return true;
  return scaleA === 1 && JSON.stringify(ja) === JSON.stringify(jb);
}

function close(x: number, y: number): boolean {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return x === y;
  return Math.abs(x - y) <= MATH_RTOL * Math.max(Math.abs(x), Math.abs(y)) + 1e-12;
}

/** Values for up to 4 variables: positive, irrational-looking, distinct (so x^2 and 2x differ). */
const SAMPLE_POINTS: number[][] = [
  [0.5772156649, 1.3247179572, 2.2360679775, 0.8414709848],
  [1.6180339887, 0.3183098862, 1.2599210499, 2.7041016],
  [2.5029078751, 0.7390851332, 0.4342944819, 1.1319882488],
];

function hasError(j: Json): boolean {
  if (Array.isArray(j)) return j[0] === "Error" || j.some(hasError);
  return false;
}

const CONSTANTS: Record<string, number> = { Pi: Math.PI, ExponentialE: Math.E, PositiveInfinity: Infinity, NegativeInfinity: -Infinity };

function freeSymbols(j: Json, out: Set<string> = new Set()): Set<string> {
  if (typeof j === "string" && !j.startsWith("'") && !(j in CONSTANTS)) out.add(j);
  else if (Array.isArray(j)) for (let i = 1; i < j.length; i++) freeSymbols(j[i], out);
  return out;
}

const factorial = (n: number): number => {
  if (!Number.isInteger(n) || n < 0) return NaN;
  if (n > 170) return Infinity;
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
};

const UNARY: Record<string, (x: number) => number> = {
  Negate: (x) => -x, Sqrt: Math.sqrt, Square: (x) => x * x, Exp: Math.exp, Ln: Math.log, Lb: Math.log2, Lg: Math.log10,
  Sin: Math.sin, Cos: Math.cos, Tan: Math.tan, Cot: (x) => 1 / Math.tan(x), Sec: (x) => 1 / Math.cos(x), Csc: (x) => 1 / Math.sin(x),
  Arcsin: Math.asin, Arccos: Math.acos, Arctan: Math.atan, Sinh: Math.sinh, Cosh: Math.cosh, Tanh: Math.tanh,
  Abs: Math.abs, Floor: Math.floor, Ceil: Math.ceil, Round: Math.round, Factorial: factorial, Delimiter: (x) => x,
};

/** float64 value of MathJSON `j` with variables from `env`; NaN when it has none (a string, a tuple, an unknown head). */
function numericValue(j: Json, env: Map<string, number>): number {
  if (typeof j === "number") return j;
  if (typeof j === "string") return CONSTANTS[j] ?? env.get(j) ?? NaN;
  if (j !== null && typeof j === "object" && !Array.isArray(j)) {
    const num = (j as { num?: unknown }).num;
    return typeof num === "string" ? Number(num.replace(/\(\d+\)$/, "")) : NaN;
  }
  if (!Array.isArray(j) || typeof j[0] !== "string") return NaN;
  const args = j.slice(1).map((x) => numericValue(x, env));
  const v = apply(j[0], args);
  // Overflow (2^{9999999}, 400!) is no value, never "infinity": only \infty is infinite.
  return !Number.isFinite(v) && !Number.isNaN(v) && args.every(Number.isFinite) ? NaN : v;
}

function apply(head: string, args: number[]): number {
  const unary = UNARY[head];
  if (unary && args.length === 1) return unary(args[0]!);
  switch (head) {
    case "Add": return args.reduce((s, x) => s + x, 0);
    case "Multiply": return args.reduce((s, x) => s * x, 1);
    case "Subtract": return args.length === 2 ? args[0]! - args[1]! : NaN;
    case "Divide": case "Rational": return args.length === 2 ? args[0]! / args[1]! : NaN;
    case "Power": return args.length === 2 ? Math.pow(args[0]!, args[1]!) : NaN;
    case "Root": return args.length === 2 ? rootOf(args[0]!, args[1]!) : NaN;
    case "Log": return args.length === 1 ? Math.log10(args[0]!) : args.length === 2 ? Math.log(args[0]!) / Math.log(args[1]!) : NaN;
    case "Max": return args.length > 0 ? Math.max(...args) : NaN;
    case "Min": return args.length > 0 ? Math.min(...args) : NaN;
    case "Mod": return args.length === 2 ? ((args[0]! % args[1]!) + args[1]!) % args[1]! : NaN;
    case "Complex": return args.length === 2 && args[1] === 0 ? args[0]! : NaN;
    default: return NaN;
  }
}

/** n-th root, real for odd n of a negative number (\sqrt[3]{-8} = -2). */
function rootOf(x: number, n: number): number {
  if (x < 0 && Number.isInteger(n) && n % 2 === 1) return -Math.pow(-x, 1 / n);
  return Math.pow(x, 1 / n);
}
