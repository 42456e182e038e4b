// The configuration table: each run's config.resolved.json flattened to dotted settings
// ("rollout.group", "params[alpha].value", "stages[converge].kl"), one column per run,
// with the settings whose values differ between runs flagged for highlighting.
import { type Expr, printExpr } from "../../../compiler/index.js";
import type { RunData } from "./load.js";

export interface ConfigTable {
  runs: string[];
  rows: { key: string; values: (string | null)[]; differs: boolean }[];
}

// Source positions say where a setting was written, not what it is.
const SKIP_KEYS = new Set(["span"]);

function isPrimitive(v: unknown): boolean {
  return v === null || typeof v !== "object";
}

function show(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return JSON.stringify(v);
}

/** An expression AST node (compiler/ast.ts) is shown as its canonical source text. */
function asExpr(v: Record<string, unknown>): string | null {
  if (typeof v.kind !== "string" || !("span" in v)) return null;
  try {
    return printExpr(v as unknown as Expr);
  } catch {
    return null;
  }
}

/** Flatten a JSON value into setting -> display string. */
export function flattenConfig(value: unknown, prefix = "", out: Map<string, string> = new Map()): Map<string, string> {
  if (isPrimitive(value)) {
    out.set(prefix || "(value)", show(value));
    return out;
  }
  if (Array.isArray(value)) {
    if (value.every(isPrimitive)) {
      out.set(prefix, JSON.stringify(value));
      return out;
    }
    // Named entries (params, stages, lets) are keyed by name; the name itself is then no setting.
    const named = value.every((x) => x && typeof x === "object" && typeof (x as { name?: unknown }).name === "string");
    // Unnamed small records ([{kind: "acc", k: 8}, ...]) read best as one JSON value.
    if (!named && value.every((x) => x && typeof x === "object" && !Array.isArray(x) && Object.values(x).every(isPrimitive))) {
      out.set(prefix, JSON.stringify(value));
      return out;
    }
    value.forEach((x, i) => {
      if (!named) return flattenConfig(x, `${prefix}[${i}]`, out);
      const { name, ...rest } = x as { name: string };
      flattenConfig(rest, `${prefix}[${name}]`, out);
    });
    if (value.length === 0) out.set(prefix, "[]");
    return out;
  }
  const obj = value as Record<string, unknown>;
  const expr = asExpr(obj);
  if (expr !== null) {
    out.set(prefix, expr);
    return out;
  }
  const keys = Object.keys(obj).filter((k) => !SKIP_KEYS.has(k));
  if (keys.length === 0 && prefix) out.set(prefix, "{}");
  for (const k of keys) flattenConfig(obj[k], prefix ? `${prefix}.${k}` : k, out);
  return out;
}

// Run-level fields of config.resolved.json (runtime/loop/run/run-dir-config.ts) that are not
// settings: when it ran, and the pipeline again as text (its JSON twin is tabulated).
const RUN_NOISE = new Set(["created", "pipeline_text", "format", "version"]);

/**
 * Settings of one run: the pipeline's fields at the top level ("rollout.group"), the run's
 * own (seed, steps, adapter, ...) under "run.". A config without a `pipeline` object is
 * flattened as it is.
 */
export function runSettings(config: Record<string, unknown>): Map<string, string> {
  const pipeline = config.pipeline;
  if (!pipeline || typeof pipeline !== "object" || Array.isArray(pipeline)) return flattenConfig(config);
  const out = flattenConfig(pipeline);
  for (const [k, v] of Object.entries(config)) if (k !== "pipeline" && !RUN_NOISE.has(k)) flattenConfig(v, `run.${k}`, out);
  return out;
}

/** One row per setting any run has; `differs` when the runs' values are not all equal (absent counts as a value). */
export function configTable(runs: readonly RunData[]): ConfigTable {
  const flat = runs.map((r) => (r.config ? runSettings(r.config) : new Map<string, string>()));
  // Merge the runs' key orders: a setting only a later run has goes right after the
  // setting that precedes it in that run, so related settings stay together.
  const keys: string[] = [];
  for (const f of flat) {
    let after = -1;
    for (const k of f.keys()) {
      const at = keys.indexOf(k);
      if (at >= 0) after = at;
      else keys.splice(++after, 0, k);
    }
  }
  const rows = keys.map((key) => {
    const values = flat.map((f) => f.get(key) ?? null);
    return { key, values, differs: values.some((v) => v !== values[0]) };
  });
  return { runs: runs.map((r) => r.name), rows };
}
