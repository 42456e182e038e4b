// Diagnostics: what went wrong, where, and what would fix it. The compiler never throws
// for bad input; every stage appends Diagnostics and carries on where it can.
import type { Source, Span } from "./source.js";

/** Every diagnostic code the front end emits, with a one-line meaning (spec/language.md lists them too). */
export const CODES = {
  E0001: "file not found or unreadable",
  E0002: "file is not valid UTF-8",
  E0003: "file contains binary data",
  E0004: "file is empty",
  E0005: "file is too large",
  E0006: "bare carriage-return line endings",
  E0101: "unexpected character",
  E0102: "syntax error",
  E0103: "unterminated string",
  E0104: "invalid number",
  E0105: "nested too deeply",
  E0201: "unknown name",
  E0202: "duplicate definition",
  E0203: "unknown setting",
  E0204: "unknown function",
  E0205: "wrong number of arguments",
  E0206: "name not allowed here",
  E0207: "recursive definition",
  E0208: "invalid reduction",
  E0301: "granularity mismatch",
  E0302: "type mismatch",
  E0303: "not a constant",
  E0401: "value out of range",
  E0402: "invalid value",
  E0403: "missing setting",
  E0404: "missing requirement",
  E0501: "stage cycle",
  E0502: "unreachable stage",
  E0503: "invalid stage reference",
  E0601: "invalid extends",
  E0602: "invalid --set",
  W0501: "stop condition can never hold",
} as const;

export type Code = keyof typeof CODES;

export interface Diagnostic {
  code: Code;
  /** Absent for errors; a warning does not stop the pipeline from loading. */
  severity?: "warning";
  message: string;
  /** Where; absent only for whole-file failures (missing file, bad encoding). */
  span?: Span;
  /** The path the problem belongs to when there is no span. */
  file?: string;
  /** What was expected, or a "did you mean" suggestion. */
  hint?: string;
}

/** Collects diagnostics; one per (code, position) so recovery cannot repeat itself. */
export class Diagnostics {
  /** Errors only: `count` is their number, and any error stops the load. */
  readonly list: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  private readonly seen = new Set<string>();

  /** Something that runs but almost surely not as meant (the program still loads). */
  warn(code: Code, message: string, span: Span, hint?: string): void {
    this.warnings.push({ code, severity: "warning", message, span, hint });
  }

  error(code: Code, message: string, span?: Span, hint?: string): void {
    const key = `${code}:${span?.file}:${span?.start}:${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ code, message, span, hint });
  }

  add(d: Diagnostic): void {
    this.list.push(d);
  }

  get count(): number {
    return this.list.length;
  }
}

/**
 * Render one diagnostic as
 *   file:line:col: error[CODE]: message
 *      |  source line
 *      |      ^^^^
 *      = hint
 */
export function formatDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, Source>): string {
  if (!d.span) {
    const out = `${d.file ?? "acpo"}: ${d.severity ?? "error"}[${d.code}]: ${d.message}`;
    return d.hint ? `${out}\n  = ${d.hint}` : out;
  }
  const s = d.span;
  const lines = [`${s.file}:${s.line}:${s.col}: ${d.severity ?? "error"}[${d.code}]: ${d.message}`];
  const src = sources.get(s.file);
  if (src) {
    const text = src.lineText(s.line);
    const gutter = String(s.line).length;
    const pad = " ".repeat(gutter);
    // Tabs would misalign the caret; show them as single spaces.
    const shown = text.replace(/\t/g, " ");
    const clipped = shown.length > 160 ? shown.slice(0, 160) + "…" : shown;
    const width = s.endLine === s.line ? Math.max(1, s.endCol - s.col) : Math.max(1, shown.length - s.col + 1);
    lines.push(`${pad} |`);
    lines.push(`${s.line} | ${clipped}`);
    lines.push(`${pad} | ${" ".repeat(Math.min(s.col - 1, 160))}${"^".repeat(Math.min(width, 80))}`);
  }
  if (d.hint) lines.push(`  = ${d.hint}`);
  return lines.join("\n");
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The closest candidate within a small edit distance, or undefined. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3) + 1));
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD && d <= limit) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** A hint naming the closest candidate, else listing them (when few). */
export function suggest(name: string, candidates: readonly string[], what = "expected one of"): string | undefined {
  const c = closest(name, candidates);
  if (c !== undefined) return `did you mean \`${c}\`?`;
  if (candidates.length > 0 && candidates.length <= 12) return `${what}: ${candidates.join(", ")}`;
  return undefined;
}
