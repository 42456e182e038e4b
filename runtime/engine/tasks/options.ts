// Reading a task's options with defaults and errors that say what is allowed. A range is
// written [lo, hi] (both inclusive) or a single number meaning [n, n].
import { TaskSpecError } from "./types.js";

interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

export class OptionReader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly task: string,
    private readonly raw: Readonly<Record<string, unknown>>,
  ) {}

  private err(name: string, what: string): never {
    throw new TaskSpecError(`task ${this.task}: option '${name}' ${what} (got ${JSON.stringify(this.raw[name])})`);
  }

  private checkNumber(name: string, v: unknown, rule: NumberRule): number {
    if (typeof v !== "number" || !Number.isFinite(v)) this.err(name, "must be a finite number");
    if (rule.integer && !Number.isInteger(v)) this.err(name, "must be an integer");
    if (rule.min !== undefined && v < rule.min) this.err(name, `must be >= ${rule.min}`);
    if (rule.max !== undefined && v > rule.max) this.err(name, `must be <= ${rule.max}`);
    return v;
  }

  has(name: string): boolean {
    return this.raw[name] !== undefined;
  }

  number(name: string, def: number, rule: NumberRule = {}): number {
    this.seen.add(name);
    const v = this.raw[name];
    return v === undefined ? def : this.checkNumber(name, v, rule);
  }

  range(name: string, def: [number, number], rule: NumberRule = {}): [number, number] {
    this.seen.add(name);
    const v = this.raw[name];
    if (v === undefined) return def;
    const pair = typeof v === "number" ? [v, v] : v;
    if (!Array.isArray(pair) || pair.length !== 2) this.err(name, "must be a range [lo, hi] or a number");
    const lo = this.checkNumber(name, pair[0], rule);
    const hi = this.checkNumber(name, pair[1], rule);
    if (lo > hi) this.err(name, "must have lo <= hi");
    return [lo, hi];
  }

  string(name: string, def: string | undefined): string | undefined {
    this.seen.add(name);
    const v = this.raw[name];
    if (v === undefined) return def;
    if (typeof v !== "string" || v === "") this.err(name, "must be a non-empty string");
    return v;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], def: T): T {
    const v = this.string(name, def)!;
    if (!(choices as readonly string[]).includes(v)) this.err(name, `must be one of ${choices.map((c) => `'${c}'`).join(", ")}`);
    return v as T;
  }

  stringList(name: string, def: string[]): string[] {
    this.seen.add(name);
    const v = this.raw[name];
    if (v === undefined) return def;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string" && x !== "")) this.err(name, "must be a non-empty list of strings");
    return v as string[];
  }

  /** Call after reading every option: anything the task did not ask for is a typo. */
  finish(): void {
    const unknown = Object.keys(this.raw).filter((k) => !this.seen.has(k) && this.raw[k] !== undefined);
    if (unknown.length > 0) {
      const valid = [...this.seen].sort().join(", ");
      throw new TaskSpecError(`task ${this.task}: unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `'${k}'`).join(", ")}; valid options: ${valid}`);
    }
  }
}
