// Reading a block of settings: each key is looked up once with its expected kind,
// range and default, so unknown keys, missing keys and bad values all get diagnostics.
import type * as A from "../ast.js";
import { suggest, type Diagnostics } from "../diagnostics.js";
import type { ExprChecker } from "./expr.js";

export interface NumOpts {
  /** Used when the key is absent; without it the key is required. */
  default?: number;
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
  int?: boolean;
}

/** Describe the accepted interval, e.g. "an integer >= 1" or "a number in (0, 1]". */
function describe(o: NumOpts): string {
  const kind = o.int ? "an integer" : "a number";
  const lo = o.above !== undefined ? `(${o.above}` : o.min !== undefined ? `[${o.min}` : undefined;
  const hi = o.below !== undefined ? `${o.below})` : o.max !== undefined ? `${o.max}]` : undefined;
  if (lo && hi) return `${kind} in ${lo}, ${hi}`;
  if (lo) return `${kind} ${o.above !== undefined ? ">" : ">="} ${o.above ?? o.min}`;
  if (hi) return `${kind} ${o.below !== undefined ? "<" : "<="} ${o.below ?? o.max}`;
  return kind;
}

export class BlockReader {
  private readonly byKey = new Map<string, A.Setting>();
  /** False once any read failed; the caller then drops the block's result. */
  ok = true;

  constructor(
    private readonly what: string,
    settings: readonly A.Setting[],
    allowed: readonly string[],
    private readonly span: A.Span,
    private readonly diags: Diagnostics,
    private readonly exprs: ExprChecker,
  ) {
    for (const s of settings) {
      if (!allowed.includes(s.key)) {
        this.diags.error("E0203", `unknown setting \`${s.key}\` in ${what}`, s.keySpan, suggest(s.key, allowed, "settings here") ?? "");
        continue;
      }
      this.byKey.set(s.key, s);
    }
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  get(key: string): A.Setting | undefined {
    return this.byKey.get(key);
  }

  fail(): undefined {
    this.ok = false;
    return undefined;
  }

  private missing(key: string, example: string): undefined {
    this.diags.error("E0403", `${this.what} needs \`${key}\``, this.span, `add e.g. \`${key} ${example}\``);
    return this.fail();
  }

  /** The setting's plain expression value, complaining about a block or a list/range instead. */
  private exprOf(s: A.Setting, expect: string): A.Expr | undefined {
    if (s.block) {
      this.diags.error("E0402", `\`${s.key}\` takes ${expect}, not a block`, s.blockSpan ?? s.span);
      return this.fail();
    }
    if (!s.value || s.value.kind !== "expr") {
      this.diags.error("E0402", `\`${s.key}\` takes ${expect}`, s.value?.span ?? s.span);
      return this.fail();
    }
    return s.value.expr;
  }

  /** A constant number (literal, param or arithmetic on them) within the given bounds. */
  num(key: string, o: NumOpts): number {
    const s = this.byKey.get(key);
    if (!s) {
      if (o.default !== undefined) return o.default;
      this.missing(key, String(o.above !== undefined ? o.above + 1 : (o.min ?? 1)));
      return NaN;
    }
    const e = this.exprOf(s, describe(o));
    if (!e) return NaN;
    return this.constNum(key, e, o) ?? NaN;
  }

  /** Check that `e` is a constant number within bounds; report and return undefined otherwise. */
  constNum(key: string, e: A.Expr, o: NumOpts): number | undefined {
    const t = this.exprs.check(e, "any");
    if (!t) return this.fail();
    const v = this.exprs.constValue(e);
    if (typeof v !== "number") {
      this.diags.error("E0303", `\`${key}\` must be a constant number`, e.span, "use literals and params only; per-token or per-sequence quantities are not allowed here");
      return this.fail();
    }
    const bad =
      !Number.isFinite(v) ||
      (o.int && !Number.isInteger(v)) ||
      (o.min !== undefined && v < o.min) ||
      (o.max !== undefined && v > o.max) ||
      (o.above !== undefined && v <= o.above) ||
      (o.below !== undefined && v >= o.below);
    if (bad) {
      const via = e.kind === "name" ? ` (param \`${e.name}\`)` : "";
      this.diags.error("E0401", `\`${key}\` must be ${describe(o)}, found ${v}${via}`, e.span, `expected ${describe(o)}`);
      return this.fail();
    }
    return v;
  }

  /** A bare word from a fixed set, e.g. `align sentence`. */
  word<T extends string>(key: string, choices: readonly T[], dflt?: T): T {
    const s = this.byKey.get(key);
    if (!s) {
      if (dflt !== undefined) return dflt;
      this.missing(key, choices[0]!);
      return choices[0]!;
    }
    return this.wordOf(s, choices) ?? choices[0]!;
  }

  /** The word value of a setting that may also carry a block (`sample dynamic { ... }`). */
  wordOf<T extends string>(s: A.Setting, choices: readonly T[]): T | undefined {
    const v = s.value;
    if (!v || v.kind !== "expr" || v.expr.kind !== "name") {
      this.diags.error("E0402", `\`${s.key}\` takes one of: ${choices.join(", ")}`, v?.span ?? s.keySpan);
      return this.fail();
    }
    const name = v.expr.name;
    if (!(choices as readonly string[]).includes(name)) {
      this.diags.error("E0402", `\`${name}\` is not a valid \`${s.key}\``, v.expr.span, suggest(name, choices) ?? `expected one of: ${choices.join(", ")}`);
      return this.fail();
    }
    return name as T;
  }

  str(key: string, dflt?: string): string {
    const s = this.byKey.get(key);
    if (!s) {
      if (dflt !== undefined) return dflt;
      this.missing(key, '"..."');
      return "";
    }
    const e = this.exprOf(s, "a string in double quotes");
    if (!e) return "";
    if (e.kind !== "string") {
      this.diags.error("E0402", `\`${key}\` takes a string in double quotes`, e.span);
      this.fail();
      return "";
    }
    return e.value;
  }

  strings(key: string, dflt: string[]): string[] {
    const s = this.byKey.get(key);
    if (!s) return dflt;
    if (!s.value || s.value.kind !== "list") {
      this.diags.error("E0402", `\`${key}\` takes a list of strings, e.g. ["Then", "So"]`, s.value?.span ?? s.span);
      this.fail();
      return [];
    }
    const out: string[] = [];
    for (const it of s.value.items) {
      if (it.kind !== "expr" || it.expr.kind !== "string") {
        this.diags.error("E0402", `\`${key}\` takes strings only`, it.span);
        this.fail();
        continue;
      }
      out.push(it.expr.value);
    }
    return out;
  }

  /** Bare words in a list, e.g. ops [add, sub]. */
  words<T extends string>(key: string, choices: readonly T[], dflt: T[]): T[] {
    const s = this.byKey.get(key);
    if (!s) return dflt;
    if (!s.value || s.value.kind !== "list") {
      this.diags.error("E0402", `\`${key}\` takes a list, e.g. [${choices.slice(0, 2).join(", ")}]`, s.value?.span ?? s.span);
      this.fail();
      return [];
    }
    const out: T[] = [];
    for (const it of s.value.items) {
      const name = it.kind === "expr" && it.expr.kind === "name" ? it.expr.name : undefined;
      if (!name || !(choices as readonly string[]).includes(name)) {
        this.diags.error("E0402", `\`${key}\` accepts ${choices.join(", ")}`, it.span, name ? suggest(name, choices) : undefined);
        this.fail();
        continue;
      }
      out.push(name as T);
    }
    return out;
  }

  metrics(key: string, dflt: { kind: "acc" | "pass"; k: number }[]): { kind: "acc" | "pass"; k: number; span?: A.Span }[] {
    const s = this.byKey.get(key);
    if (!s) return dflt;
    if (!s.value || s.value.kind !== "list") {
      this.diags.error("E0402", `\`${key}\` takes a list such as [acc@8, pass@8]`, s.value?.span ?? s.span);
      this.fail();
      return [];
    }
    const out: { kind: "acc" | "pass"; k: number; span: A.Span }[] = [];
    for (const it of s.value.items) {
      if (it.kind !== "metric" || (it.name !== "acc" && it.name !== "pass") || it.k < 1) {
        const name = it.kind === "metric" ? it.name : "";
        this.diags.error("E0402", "metrics are acc@k or pass@k with k >= 1", it.span, name ? suggest(name, ["acc", "pass"]) : undefined);
        this.fail();
        continue;
      }
      out.push({ kind: it.name, k: it.k, span: it.span });
    }
    return out;
  }

  /** An integer range `lo..hi` (inclusive) with lo <= hi and both in [min, max]. */
  range(key: string, min: number, dflt?: [number, number], max?: number): [number, number] {
    const s = this.byKey.get(key);
    if (!s) {
      if (dflt) return dflt;
      this.missing(key, `${min}..${min + 9}`);
      return [NaN, NaN];
    }
    if (!s.value || s.value.kind !== "range") {
      this.diags.error("E0402", `\`${key}\` takes an inclusive range such as ${min}..${min + 9}`, s.value?.span ?? s.span);
      this.fail();
      return [NaN, NaN];
    }
    const lo = this.constNum(key, s.value.lo, { int: true, min, max });
    const hi = this.constNum(key, s.value.hi, { int: true, min, max });
    if (lo === undefined || hi === undefined) return [NaN, NaN];
    if (lo > hi) {
      this.diags.error("E0401", `\`${key}\` range is empty: ${lo} > ${hi}`, s.value.span);
      this.fail();
    }
    return [lo, hi];
  }

  /** Blocks nested under a setting, or [] when it has none. */
  static blockOf(s: A.Setting | undefined): readonly A.Setting[] {
    return s?.block ?? [];
  }
}
