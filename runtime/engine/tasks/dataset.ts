// A user's dataset of records (a jsonl file, a Parquet file) scored by a chosen verifier.
// The file formats differ only in how records are read (jsonl.ts, parquet.ts); options,
// field checks, splits and verification are shared here, so both mean the same.
//
// Record policy: a missing field or a field of the wrong type is an error that names the
// file and the record (jsonl: FILE:LINE; Parquet: FILE: row N), the field, and what to
// write instead. Loading stops at the first one.
//
// Split policy: a record with a `split` field ("train" or "test") goes there. A record
// without one is assigned by hashing its prompt text (deterministic, independent of record
// order and of the run's seed; equal prompts always share a split, so no prompt is in
// both). With separate `train` and `test` files, each file is its split.
import { resolve } from "node:path";
import { countdownKey, countdownPrompt, countdownTrace } from "./countdown.js";
import { ANSWER_CLOSE, ANSWER_OPEN, parseDecimal } from "./answer.js";
import { OptionReader } from "./options.js";
import { mixSeed, Rng, splitOf } from "./rng.js";
import { TaskSpecError, type Problem, type Split, type Task, type Verdict } from "./types.js";
import { referenceAnswer, verifyCountdown, verifyExact, verifyMath, verifyNumeric } from "./verifiers.js";

export const DATASET_VERIFIERS = ["exact", "numeric", "countdown", "math"] as const;
export type DatasetVerifier = (typeof DATASET_VERIFIERS)[number];

export interface DatasetOptions {
  /** One file holding both splits; or `train` (and optionally `test`) instead. */
  path?: string;
  train?: string;
  test?: string;
  verifier: DatasetVerifier;
  promptField: string;
  /** Expected answer, for the exact, numeric and math verifiers (math: a \\boxed{} solution or GSM8K's "#### 72" too). */
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

export interface DatasetProblem extends Problem {
  /** "file.jsonl:12" or "file.parquet#12": where the record came from. */
  readonly source: string;
  readonly expected?: string | number;
  readonly numbers?: readonly number[];
  readonly target?: number;
  readonly solution?: string;
}

/** `kind` names the task in messages ("jsonl", "parquet"). */
export function readDatasetOptions(kind: string, raw: Readonly<Record<string, unknown>>, baseDir = process.cwd()): DatasetOptions {
  const r = new OptionReader(kind, raw);
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(baseDir, p));
  const o: DatasetOptions = {
    path: abs(r.string("path", undefined)),
    train: abs(r.string("train", undefined)),
    test: abs(r.string("test", undefined)),
    verifier: r.oneOf("verifier", DATASET_VERIFIERS, "exact"),
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
    throw new TaskSpecError(`task ${kind}: give either 'path' (one file, split by a split field or by hash) or 'train' (and optionally 'test')`);
  }
  if (o.path !== undefined && o.test !== undefined) throw new TaskSpecError(`task ${kind}: 'test' goes with 'train', not with 'path'`);
  return o;
}

/** Fields a record needs under these options (a Parquet reader reads only these columns). */
export function datasetFields(o: DatasetOptions): { required: string[]; optional: string[] } {
  const required = o.verifier === "countdown" ? [o.numbersField, o.targetField] : [o.answerField, o.promptField];
  const optional = [o.splitField, ...(o.verifier === "countdown" ? [o.promptField] : [])];
  if (o.traceField !== undefined) required.push(o.traceField);
  return { required, optional };
}

type Json = Record<string, unknown>;

/** One record as read from a file: where it is (for messages and problem ids) and its fields. */
export interface DatasetRecord {
  /** "FILE:12" (jsonl) or "FILE: row 12" (Parquet): how messages name the record. */
  where: string;
  /** Short form for the problem: "file.jsonl:12", "file.parquet#12". */
  source: string;
  fields: Json;
}

export abstract class DatasetTask implements Task<DatasetProblem> {
  readonly options: Readonly<DatasetOptions>;
  private readonly rows: Record<Split, DatasetProblem[]> = { train: [], test: [] };
  private readonly promptExplicit: boolean;

  constructor(readonly name: string, options: Readonly<Record<string, unknown>>, baseDir?: string) {
    this.options = readDatasetOptions(name, options, baseDir);
    this.promptExplicit = options.promptField !== undefined;
  }

  /** Completes "FILE: no records (...)" when every file is empty: why, and what to do. */
  protected abstract readonly emptyHint: string;

  /** The records of one file, in order. Errors are TaskSpecErrors naming the file. */
  protected abstract records(file: string): Iterable<DatasetRecord>;

  /** Reads every file the options name; subclasses call it at the end of their constructor. */
  protected loadAll(): void {
    const o = this.options;
    if (o.path !== undefined) this.load(o.path, null);
    else {
      this.load(o.train!, o.test === undefined ? null : "train");
      if (o.test !== undefined) this.load(o.test, "test");
    }
    if (this.rows.train.length + this.rows.test.length === 0) {
      throw new TaskSpecError(`task ${this.name}: ${o.path ?? o.train}: no records (${this.emptyHint})`);
    }
  }

  /** `role`: the split every record of this file belongs to, or null to read each record's. */
  private load(file: string, role: Split | null): void {
    for (const rec of this.records(file)) {
      const row = this.problemOf(rec, role);
      this.rows[row.split].push(row);
    }
  }

  /** A record's fields checked and turned into a problem. */
  protected problemOf({ where, source, fields: r }: DatasetRecord, role: Split | null): DatasetProblem {
    const o = this.options;
    const fail = (what: string): never => {
      throw new TaskSpecError(`task ${this.name}: ${where}: ${what}`);
    };
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
    return { id: `${this.name}:${source}`, split, prompt, source, expected, numbers, target, solution };
  }

  problems(split: Split, count: number, seed: number): DatasetProblem[] {
    const rows = this.rows[split];
    if (count > rows.length) {
      throw new TaskSpecError(`task ${this.name}: asked for ${count} ${split} problems but the dataset has ${rows.length}; ask for at most ${rows.length}`);
    }
    // "jsonl/" for every format: the same records in jsonl or Parquet draw the same problems.
    return new Rng(mixSeed(seed, `jsonl/${split}`)).shuffled(rows).slice(0, count);
  }

  size(split: Split): number {
    return this.rows[split].length;
  }

  verify(problem: DatasetProblem, response: string): Verdict {
    const o = this.options;
    if (o.verifier === "countdown") return verifyCountdown(problem.numbers!, problem.target!, response, o.formatReward);
    if (o.verifier === "numeric") return verifyNumeric(problem.expected as number, response, o.tolerance, o.formatReward);
    if (o.verifier === "math") return verifyMath(problem.expected as string, response, o.formatReward);
    return verifyExact(problem.expected as string, response, o.formatReward);
  }

  /**
   * The record's trace field when one is configured; for countdown records the solver's
   * worked solution; otherwise only the conclusion "So, <answer>expected</answer>" (a
   * dataset without solutions can teach the answer format, not the reasoning).
   */
  trace(problem: DatasetProblem, seed = 0): string {
    if (problem.solution !== undefined) return problem.solution;
    if (this.options.verifier === "countdown") return countdownTrace(problem.numbers!, problem.target!, seed);
    const answer = this.options.verifier === "math" ? referenceAnswer(String(problem.expected)) : String(problem.expected);
    return `So, ${ANSWER_OPEN}${answer}${ANSWER_CLOSE}`;
  }
}
