// Reading a recorded batch (spec/batch.md): a JSON object with `trajectories`, or a
// samples.jsonl file with one trajectory per line. Every problem is a BatchError naming the
// file (and line) and the field. Each trajectory, once checked, becomes a batch row with its
// step table; the interpreter's Batch is the rows' view (interpret/batch-rows.ts), the same
// the training loop builds from its own trajectories.
import { readFileSync } from "node:fs";
import type { Batch } from "../interpret/batch.js";
import { type BatchCounters, type BatchRow, rowsBatch, type RowPolicy, stepTableFrom } from "../interpret/batch-rows.js";

export class BatchError extends Error {}

type Json = Record<string, unknown>;

interface Traj {
  where: string;
  group: number;
  reward: number;
  correct: boolean;
  /** The verifier's format check: `format`, else whether `answer` is a string; null when the line has neither. */
  format: boolean | null;
  tokens: number[];
  oldLogp: number[];
  refLogp: number[] | null;
  rolloutLogp: number[] | null;
  logp: number[] | null;
  entropy: number[] | null;
  oldEntropy: number[] | null;
  logits: number[][] | null;
  stepStarts: number[];
  C: number[] | null;
  stepEntropy: number[] | null;
  /** The task's step checker's reward per step (`step_reward`), when given. */
  stepReward: number[] | null;
  /** Monte-Carlo value of each step's start (`mc_value`), when given. */
  mcValue: number[] | null;
  /** The judge model's verdict log-probability after each step (`judge_score`), when given. */
  judgeScore: number[] | null;
}

export interface BatchFile {
  /** The interpreter's view of the rows (rowsBatch). */
  batch: Batch;
  /** The trajectories as batch rows, and the recorded policy and counters: what replay uploads to the GPU (codegen/upload.ts uploadRows). */
  rows: BatchRow[];
  policy: RowPolicy;
  counters: BatchCounters;
  /** Tokens per trajectory, in order (token t of trajectory i is slot i*T + t). */
  lengths: number[];
  /** Group id of each trajectory as the file gives it (the batch renumbers them 0..nGroups-1). */
  groups: number[];
  /** Which optional per-step fields were given. */
  has: { C: boolean; ref: boolean; format: boolean; rollout: boolean; stepReward: boolean; mc: boolean; judge: boolean };
}

export function readBatchFile(path: string): BatchFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new BatchError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const header: Json = {};
  const raw: { obj: unknown; where: string }[] = [];
  if (path.endsWith(".jsonl")) {
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      raw.push({ obj: parse(line, `${path}:${i + 1}`), where: `${path}:${i + 1}` });
    });
  } else {
    const top = parse(text, path);
    if (!isObj(top)) throw new BatchError(`${path}: expected a JSON object with a 'trajectories' array`);
    if (!Array.isArray(top.trajectories)) throw new BatchError(`${path}: field 'trajectories' must be an array`);
    Object.assign(header, top);
    top.trajectories.forEach((t, i) => raw.push({ obj: t, where: `${path}: trajectories[${i}]` }));
  }
  return batchFromRecords(raw, header, path);
}

/**
 * A batch from trajectory objects already read (each with where it came from, for messages),
 * e.g. one optimizer step's samples.jsonl lines; `header` holds V, steps, total_steps, seed.
 */
export function batchFromRecords(raw: readonly { obj: unknown; where: string }[], header: Json, path: string): BatchFile {
  if (raw.length === 0) throw new BatchError(`${path}: no trajectories`);
  const V = header.V === undefined ? undefined : int(header.V, `${path}: V`, 1);
  const trajs = raw.map(({ obj, where }) => trajectory(obj, where, V));
  return assemble(trajs, header, path);
}

function parse(s: string, where: string): unknown {
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new BatchError(`${where}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

const isObj = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);

function num(x: unknown, where: string): number {
  // JSON has no NaN/inf literal; null stands for NaN so recorded non-finite values survive.
  if (x === null) return NaN;
  if (typeof x !== "number") throw new BatchError(`${where}: expected a number, found ${JSON.stringify(x)}`);
  return x;
}

function int(x: unknown, where: string, min = 0): number {
  const v = num(x, where);
  if (!Number.isInteger(v) || v < min) throw new BatchError(`${where}: expected an integer >= ${min}, found ${JSON.stringify(x)}`);
  return v;
}

function nums(o: Json, key: string, where: string, len: number | null, required: boolean, per: "token" | "step" = "token"): number[] | null {
  const x = o[key];
  if (x === undefined) {
    if (required) throw new BatchError(`${where}: field '${key}' is required`);
    return null;
  }
  if (!Array.isArray(x)) throw new BatchError(`${where}.${key}: expected an array of numbers`);
  if (len !== null && x.length !== len) throw new BatchError(`${where}.${key}: expected ${len} numbers (one per ${per}), found ${x.length}`);
  return x.map((v, i) => num(v, `${where}.${key}[${i}]`));
}

function trajectory(o: unknown, where: string, V: number | undefined): Traj {
  if (!isObj(o)) throw new BatchError(`${where}: expected an object`);
  const tokens = nums(o, "tokens", where, null, true)!.map((t, i) => int(t, `${where}.tokens[${i}]`));
  const L = tokens.length;
  if (L === 0) throw new BatchError(`${where}.tokens: a trajectory needs at least one response token`);
  let logits: number[][] | null = null;
  if (o.logits !== undefined) {
    if (!Array.isArray(o.logits) || o.logits.length !== L) throw new BatchError(`${where}.logits: expected ${L} rows (one per token)`);
    logits = o.logits.map((row, t) => {
      if (!Array.isArray(row)) throw new BatchError(`${where}.logits[${t}]: expected an array of numbers`);
      if (V !== undefined && row.length !== V) throw new BatchError(`${where}.logits[${t}]: expected V = ${V} numbers, found ${row.length}`);
      return row.map((v, k) => num(v, `${where}.logits[${t}][${k}]`));
    });
  }
  const stepStarts = nums(o, "step_starts", where, null, false) ?? [0];
  stepStarts.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s >= L || (i === 0 ? s !== 0 : s <= stepStarts[i - 1]!)) {
      throw new BatchError(`${where}.step_starts[${i}]: step starts must begin at 0 and increase strictly below ${L}, found ${s}`);
    }
  });
  const K = stepStarts.length;
  const reward = num(o.reward, `${where}.reward`);
  if (o.correct !== undefined && typeof o.correct !== "boolean") throw new BatchError(`${where}.correct: expected true or false`);
  return {
    where,
    group: int(o.group, `${where}.group`),
    reward,
    correct: o.correct === undefined ? reward > 0 : (o.correct as boolean),
    format: formatOf(o, where),
    tokens,
    oldLogp: nums(o, "old_logp", where, L, true)!,
    refLogp: nums(o, "ref_logp", where, L, false),
    rolloutLogp: nums(o, "rollout_logp", where, L, false),
    logp: nums(o, "logp", where, L, logits === null),
    entropy: nums(o, "entropy", where, L, logits === null),
    oldEntropy: nums(o, "old_entropy", where, L, false),
    logits,
    stepStarts,
    C: nums(o, "C", where, K, false, "step"),
    stepEntropy: nums(o, "step_entropy", where, K, false, "step"),
    stepReward: nums(o, "step_reward", where, K, false, "step"),
    mcValue: nums(o, "mc_value", where, K, false, "step"),
    judgeScore: nums(o, "judge_score", where, K, false, "step"),
  };
}

/** `format` (boolean), else from samples.jsonl's `answer` (a string: a complete answer was found; null: none). */
function formatOf(o: Json, where: string): boolean | null {
  if (o.format !== undefined) {
    if (typeof o.format !== "boolean") throw new BatchError(`${where}.format: expected true or false`);
    return o.format;
  }
  if (o.answer === undefined) return null;
  if (o.answer !== null && typeof o.answer !== "string") throw new BatchError(`${where}.answer: expected a string or null`);
  return o.answer !== null;
}

function assemble(trajs: Traj[], header: Json, path: string): BatchFile {
  const withLogits = trajs.filter((t) => t.logits).length;
  if (withLogits !== 0 && withLogits !== trajs.length) throw new BatchError(`${path}: either every trajectory has logits or none does (${withLogits} of ${trajs.length} do)`);
  const V = withLogits ? trajs[0]!.logits![0]!.length : 0;
  for (const t of trajs) if (t.logits && t.logits.some((r) => r.length !== V)) throw new BatchError(`${t.where}.logits: every row must have V = ${V} entries`);
  const counters = {
    steps: header.steps === undefined ? 0 : int(header.steps, `${path}: steps`),
    totalSteps: header.total_steps === undefined ? 0 : int(header.total_steps, `${path}: total_steps`),
    seed: header.seed === undefined ? 0 : int(header.seed, `${path}: seed`),
  };
  if (withLogits) for (const t of trajs) t.tokens.forEach((id, k) => {
    if (id >= V) throw new BatchError(`${t.where}.tokens[${k}]: id ${id} is outside the vocabulary of the logits (V = ${V})`);
  });
  const refLogp = trajs.every((t) => t.refLogp) ? trajs.map((t) => t.refLogp!) : null;
  const policy: RowPolicy = withLogits ? { V, logits: trajs.map((t) => t.logits!), refLogp } : { logp: trajs.map((t) => t.logp!), H: trajs.map((t) => t.entropy!), refLogp };
  const rows = trajs.map(rowOf);
  const { batch: b } = rowsBatch(rows, policy, counters);
  return { batch: b, rows, policy, counters, lengths: trajs.map((t) => t.tokens.length), groups: trajs.map((t) => t.group), has: { C: trajs.every((t) => t.C !== null), ref: b.refLogp !== null, format: trajs.every((t) => t.format !== null), rollout: b.rolloutLogp !== null, stepReward: b.stepReward != null, mc: b.mcValue != null, judge: b.judgeScore != null } };
}

/** A trajectory as a batch row: the step table from its own fields (step_entropy, else the mean of old_entropy, else of entropy). */
function rowOf(t: Traj): BatchRow {
  return {
    group: t.group,
    reward: t.reward,
    correct: t.correct,
    format: t.format === null ? NaN : t.format ? 1 : 0,
    tokens: t.tokens,
    oldLogp: t.oldLogp,
    rolloutLogp: t.rolloutLogp,
    steps: stepTableFrom({
      L: t.tokens.length, starts: t.stepStarts, C: t.C, stepEntropy: t.stepEntropy, tokenEntropy: t.oldEntropy ?? t.entropy,
      reward: t.stepReward, mcValue: t.mcValue, judge: t.judgeScore, finalReward: t.reward,
    }),
  };
}
