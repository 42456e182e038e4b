// jsonl: a user's dataset, one JSON object per line, scored by a chosen verifier.
//
// Line policy (nothing is silently skipped):
// - A line that is empty or only whitespace is ignored: it holds no record (this is how
//   a trailing newline at the end of the file reads). Every other line must be a JSON object.
// - Bad JSON, a non-object, a missing field or a field of the wrong type is an error that
//   names file:line, the field, and what to write instead. Loading stops at the first one.
// - A UTF-8 byte-order mark at the start and CRLF line ends are accepted. Lines must be UTF-8
//   (a bad byte is an error naming file:line, never replaced by U+FFFD) and at most
//   MAX_LINE_BYTES long; the file is read in chunks, so a huge line never sits in memory.
//   The path must be a regular file (a FIFO or a device is refused: it would hang or never end).
//
// Split policy: a record with a `split` field ("train" or "test") goes there. A record
// without one is assigned by hashing its prompt text (deterministic, independent of line
// order and of the run's seed; equal prompts always share a split, so no prompt is in
// both). With separate `train` and `test` files, each file is its split.
import { basename, resolve } from "node:path";
import { readLines } from "../line-reader.js";
import { countdownKey, countdownPrompt, countdownTrace } from "./countdown.js";
import { ANSWER_CLOSE, ANSWER_OPEN, parseDecimal } from "./answer.js";
import { OptionReader } from "./options.js";
import { mixSeed, Rng, splitOf } from "./rng.js";
import { TaskSpecError, type Problem, type Split, type Task, type Verdict } from "./types.js";
import { verifyCountdown, verifyExact, verifyNumeric } from "./verifiers.js";

/** Longest record line, in bytes (runtime/tasks/README.md): far above any prompt a model here can read. */
export const MAX_LINE_BYTES = 1 << 20;

export type JsonlVerifier = "exact" | "numeric" | "countdown";

export interface JsonlOptions {
  /** One file holding both splits; or `train` (and optionally `test`) instead. */
  path?: string;
  train?: string;
  test?: string;
  verifier: JsonlVerifier;
  promptField: string;
  /** Expected answer, for the exact and numeric verifiers. */
  answerField: string;
  /** The numbers and target, for the countdown verifier. */
  numbersField: string;
  targetField: string;
  splitField: string;
  /** Optional field with a worked solution, used as the warm-start trace. */
  traceField?: string;
  /** Share of records without a split field that goes to the test split. */
  testFraction: number;
  /** Numeric verifier: |answer - expected| <= tolerance. */
  tolerance: number;
  formatReward: number;
}

export interface JsonlProblem extends Problem {
  /** "file.jsonl:12": where the record came from. */
  readonly source: string;
  readonly expected?: string | number;
  readonly numbers?: readonly number[];
  readonly target?: number;
  readonly solution?: string;
}

export function readJsonlOptions(raw: Readonly<Record<string, unknown>>, baseDir = process.cwd()): JsonlOptions {
  const r = new OptionReader("jsonl", raw);
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(baseDir, p));
  const o: JsonlOptions = {
    path: abs(r.string("path", undefined)),
    train: abs(r.string("train", undefined)),
    test: abs(r.string("test", undefined)),
    verifier: r.oneOf("verifier", ["exact", "numeric", "countdown"] as const, "exact"),
    promptField: r.string("promptField", "prompt")!,
    answerField: r.string("answerField", "answer")!,
    numbersField: r.string("numbersField", "numbers")!,
    targetField: r.string("targetField", "target")!,
    splitField: r.string("splitField", "split")!,
    traceField: r.string("traceField", undefined),
    testFraction: r.number("testFraction", 0.1, { min: 0, max: 1 }),
    tolerance: r.number("tolerance", 1e-6, { min: 0 }),
    formatReward: r.number("formatReward", 0, { min: 0, max: 1 }),
  };
  r.finish();
  if ((o.path === undefined) === (o.train === undefined)) {
    throw new TaskSpecError("task jsonl: give either 'path' (one file, split by a split field or by hash) or 'train' (and optionally 'test')");
  }
  if (o.path !== undefined && o.test !== undefined) throw new TaskSpecError("task jsonl: 'test' goes with 'train', not with 'path'");
  return o;
}

type Json = Record<string, unknown>;

export class JsonlTask implements Task<JsonlProblem> {
  readonly name = "jsonl";
  readonly options: Readonly<JsonlOptions>;
  private readonly rows: Record<Split, JsonlProblem[]> = { train: [], test: [] };
  private readonly promptExplicit: boolean;

  constructor(options: Readonly<Record<string, unknown>>, baseDir?: string) {
    this.options = readJsonlOptions(options, baseDir);
    this.promptExplicit = options.promptField !== undefined;
    const o = this.options;
    if (o.path !== undefined) this.load(o.path, null);
    else {
      this.load(o.train!, o.test === undefined ? null : "train");
      if (o.test !== undefined) this.load(o.test, "test");
    }
    if (this.rows.train.length + this.rows.test.length === 0) {
      throw new TaskSpecError(`task jsonl: ${o.path ?? o.train}: no records (every line is blank); write one JSON object per line`);
    }
  }

  /** `role`: the split every record of this file belongs to, or null to read each record's. */
  private load(file: string, role: Split | null): void {
    const lines = readLines(file, { maxLineBytes: MAX_LINE_BYTES, error: (what) => new TaskSpecError(`task jsonl: ${what}`) });
    for (const { no, text } of lines) {
      if (text.trim() === "") continue;
      const row = this.parseLine(file, no, text, role);
      this.rows[row.split].push(row);
    }
  }

  private parseLine(file: string, lineNo: number, line: string, role: Split | null): JsonlProblem {
    const o = this.options;
    const where = `${file}:${lineNo}`;
    const fail = (what: string): never => {
      throw new TaskSpecError(`task jsonl: ${where}: ${what}`);
    };
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message}); each non-blank line must be one JSON object`);
    }
    if (typeof rec !== "object" || rec === null || Array.isArray(rec)) fail(`expected a JSON object like {"${o.promptField}": ...}, got ${Array.isArray(rec) ? "an array" : JSON.stringify(rec)}`);
    const r = rec as Json;
    const field = (name: string, want: string, ok: (v: unknown) => boolean): unknown => {
      if (!(name in r)) fail(`missing field "${name}" (${want}); add it or name another field in the task options`);
      if (!ok(r[name])) fail(`field "${name}" must be ${want}, got ${JSON.stringify(r[name])}`);
      return r[name];
    };
    const isNonEmptyString = (v: unknown): boolean => typeof v === "string" && v.trim() !== "";

    let numbers: number[] | undefined;
    let target: number | undefined;
    let expected: string | number | undefined;
    if (o.verifier === "countdown") {
      numbers = field(o.numbersField, "a non-empty array of non-negative integers", (v) => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0)) as number[];
      target = field(o.targetField, "a finite number", (v) => typeof v === "number" && Number.isFinite(v)) as number;
    } else if (o.verifier === "numeric") {
      const v = field(o.answerField, "a number or a numeric string", (v) => (typeof v === "number" && Number.isFinite(v)) || (typeof v === "string" && parseDecimal(v) !== null));
      expected = typeof v === "number" ? v : parseDecimal(v as string)!;
    } else {
      const v = field(o.answerField, "a string or a number", (v) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v)));
      expected = typeof v === "number" ? String(v) : (v as string);
    }

    // A countdown dataset may omit prompts (e.g. {"nums": [..], "target": n}); the task's own
    // prompt is built then, unless the options named a prompt field on purpose.
    let prompt: string;
    if (o.verifier === "countdown" && !this.promptExplicit && !(o.promptField in r)) prompt = countdownPrompt(numbers!, target!);
    else prompt = field(o.promptField, "a non-empty string", isNonEmptyString) as string;

    const solution = o.traceField === undefined ? undefined : (field(o.traceField, "a non-empty string", isNonEmptyString) as string);

    let split: Split;
    if (o.splitField in r) {
      const s = field(o.splitField, `"train" or "test"`, (v) => v === "train" || v === "test") as Split;
      if (role !== null && s !== role) fail(`field "${o.splitField}" says "${s}" but this file is the ${role} file; remove the field or move the record`);
      split = s;
    } else {
      split = role ?? splitOf(o.verifier === "countdown" && !(o.promptField in r) ? countdownKey(numbers!, target!) : prompt, o.testFraction);
    }
    const source = `${basename(file)}:${lineNo}`;
    return { id: `jsonl:${source}`, split, prompt, source, expected, numbers, target, solution };
  }

  problems(split: Split, count: number, seed: number): JsonlProblem[] {
    const rows = this.rows[split];
    if (count > rows.length) {
      throw new TaskSpecError(`task jsonl: asked for ${count} ${split} problems but the dataset has ${rows.length}; ask for at most ${rows.length}`);
    }
    return new Rng(mixSeed(seed, `jsonl/${split}`)).shuffled(rows).slice(0, count);
  }

  size(split: Split): number {
    return this.rows[split].length;
  }

  verify(problem: JsonlProblem, response: string): Verdict {
    const o = this.options;
    if (o.verifier === "countdown") return verifyCountdown(problem.numbers!, problem.target!, response, o.formatReward);
    if (o.verifier === "numeric") return verifyNumeric(problem.expected as number, response, o.tolerance, o.formatReward);
    return verifyExact(problem.expected as string, response, o.formatReward);
  }

  /**
   * The record's trace field when one is configured; for countdown records the solver's
   * worked solution; otherwise only the conclusion "So, <answer>expected</answer>" (a
   * dataset without solutions can teach the answer format, not the reasoning).
   */
  trace(problem: JsonlProblem, seed = 0): string {
    if (problem.solution !== undefined) return problem.solution;
    if (this.options.verifier === "countdown") return countdownTrace(problem.numbers!, problem.target!, seed);
    return `So, ${ANSWER_OPEN}${String(problem.expected)}${ANSWER_CLOSE}`;
  }
}
