// A batch as rows: one trajectory per row, in the batch format's terms (spec/batch.md:
// response tokens only), each with its step table derived once. Every view of a batch is
// built from rows: the interpreter's Batch here (batch files and samples.jsonl through
// plan/batch-file.ts, `until` and `priority` in the loop through runtime/loop/rl/until.ts), the
// RL update's GPU tensors (runtime/loop/rl/batch.ts, through stepColumns) and samples.jsonl lines
// (runtime/loop/run/run-dir-samples.ts). So a step value is computed in one place and every view
// agrees on it, empty steps included.
//
// Step k of a row covers response tokens [starts[k], starts[k] + lengths[k]). An empty step
// (length 0) is not a step: the single step of an empty response, and every slot past a
// row's last step in a (B, S) layout. Reductions skip it (eval.ts isValid; the kernels test
// length > 0), and every value it holds is 0 in every view.
import type { SeqColumn, StepColumn } from "../codegen/layout.js";
import type { Batch } from "./batch.js";

/** One row's steps: K entries per array, K >= 1. */
export interface StepTable {
  starts: number[];
  lengths: number[];
  /** Mean rollout entropy of each step; 0 for an empty step; NaN when no entropy was recorded. */
  entropy: number[];
  /** Attribution per step; 0 for the steps attribution does not score and when it is off. */
  C: number[];
  /** The task's step checker's reward per step (`step_reward`); null when the row has none. */
  reward: number[] | null;
  /** Monte-Carlo value at each step's start (`mc_value`); null without Monte-Carlo rollouts. */
  mcValue: number[] | null;
  /** The value at each step's end (`mc_next`): the next step's, the row's reward after the last; null with mcValue. */
  mcNext: number[] | null;
  /** A judge model's verdict log-probability after each step (`judge_score`); null without a judge. */
  judge: number[] | null;
}

/** What a step table is derived from; the per-step arrays have K entries (C may have fewer: the tail is 0). */
export interface StepSource {
  /** Response tokens. */
  L: number;
  /** First token of each step: 0, then strictly increasing, each < L; [0] for an empty response. */
  starts: readonly number[];
  C: readonly number[] | null;
  /** Mean rollout entropy per step, as recorded (batch files); null to average tokenEntropy. */
  stepEntropy: readonly number[] | null;
  /** Per-token rollout entropy (L), averaged over each step when stepEntropy is null; null when none was recorded. */
  tokenEntropy: ArrayLike<number> | null;
  reward: readonly number[] | null;
  mcValue: readonly number[] | null;
  judge: readonly number[] | null;
  /** The row's reward: mc_next after the last step. */
  finalReward: number;
}

/** The one derivation of a step table (see the file comment for empty steps). */
export function stepTableFrom(src: StepSource): StepTable {
  const { L, starts } = src;
  const K = starts.length;
  const lengths = starts.map((s, k) => (k + 1 < K ? starts[k + 1]! : L) - s);
  // Every value of an empty step is 0 (not NaN, not the given value): it is no step.
  const perStep = (f: (k: number) => number) => starts.map((_, k) => (lengths[k]! > 0 ? f(k) : 0));
  const given = (a: readonly number[] | null) => (a ? perStep((k) => a[k]!) : null);
  const mcValue = given(src.mcValue);
  return {
    starts: [...starts],
    lengths,
    entropy: perStep((k) => src.stepEntropy?.[k] ?? (src.tokenEntropy ? meanOver(src.tokenEntropy, starts[k]!, starts[k]! + lengths[k]!) : NaN)),
    C: perStep((k) => src.C?.[k] ?? 0),
    reward: given(src.reward),
    mcValue,
    mcNext: mcValue ? perStep((k) => (k + 1 < K ? mcValue[k + 1]! : src.finalReward)) : null,
    judge: given(src.judge),
  };
}

/** Mean of values[from..to), summed left to right (to > from). */
function meanOver(values: ArrayLike<number>, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += values[i]!;
  return sum / (to - from);
}

/** Step index of each of a row's L tokens (token i lies in step out[i]). */
export function tokenSteps(steps: StepTable, L: number): Int32Array {
  const out = new Int32Array(L);
  steps.starts.forEach((s, k) => out.fill(k, s, s + steps.lengths[k]!));
  return out;
}

/** One trajectory of a batch (spec/batch.md), with its step table. */
export interface BatchRow {
  /** Prompt group as the trajectory gives it (any integer ids; views renumber them 0..nGroups-1 in increasing id). */
  group: number;
  reward: number;
  correct: boolean;
  /** The verifier's format check: 1, 0, or NaN when unknown. */
  format: number;
  tokens: ArrayLike<number>; // (L) response token ids
  oldLogp: ArrayLike<number>; // (L) sampling policy
  /** (L) the sampler's recorded log-probs, when given apart from oldLogp (batch files' rollout_logp). */
  rolloutLogp: ArrayLike<number> | null;
  steps: StepTable;
}

/** Group ids in increasing order, and each row's index among them. */
export function groupsOf(rows: readonly BatchRow[]): { groupIds: number[]; group: Int32Array } {
  const groupIds = [...new Set(rows.map((r) => r.group))].sort((a, b) => a - b);
  const index = new Map(groupIds.map((g, i) => [g, i]));
  return { groupIds, group: Int32Array.from(rows, (r) => index.get(r.group)!) };
}

/** Each kernel sequence column (codegen/layout.ts SEQ_COLUMNS) from a row, and the Batch field it fills. */
export const SEQ_FIELDS = {
  r: { of: (r: BatchRow) => r.reward, batch: "reward" },
  correct: { of: (r: BatchRow) => (r.correct ? 1 : 0), batch: "correct" },
  length: { of: (r: BatchRow) => r.tokens.length, batch: "length" },
  group: { of: (r: BatchRow) => r.group, batch: "group" }, // renumbered by seqColumns; an Int32Array in Batch
  format: { of: (r: BatchRow) => r.format, batch: "format" },
} as const satisfies Record<SeqColumn, { of: (r: BatchRow) => number; batch: keyof Batch }>;

/** The rows' sequence values as (B) columns; `group` is each row's index among the increasing group ids. */
export function seqColumns(rows: readonly BatchRow[]): { values: Record<SeqColumn, Float64Array>; groupIds: number[] } {
  const { groupIds, group } = groupsOf(rows);
  const values = {} as Record<SeqColumn, Float64Array>;
  for (const [col, f] of Object.entries(SEQ_FIELDS) as [SeqColumn, (typeof SEQ_FIELDS)[SeqColumn]][]) values[col] = Float64Array.from(rows, f.of);
  values.group = Float64Array.from(group);
  return { values, groupIds };
}

/** Step slots per row: the most steps of any row, at least 1. */
export function stepSlots(rows: readonly BatchRow[]): number {
  return Math.max(1, ...rows.map((r) => r.steps.starts.length));
}

/** Which step-table field fills each kernel step column (codegen/layout.ts STEP_COLUMNS) and each Batch field. */
export const STEP_FIELDS = {
  C: { table: "C", batch: "C" },
  length: { table: "lengths", batch: "stepLength" },
  entropy: { table: "entropy", batch: "stepEntropy" },
  reward: { table: "reward", batch: "stepReward" },
  mcValue: { table: "mcValue", batch: "mcValue" },
  mcNext: { table: "mcNext", batch: "mcNext" },
  judge: { table: "judge", batch: "judgeScore" },
} as const satisfies Record<StepColumn, { table: Exclude<keyof StepTable, "starts">; batch: keyof Batch }>;

export interface StepColumns {
  /** (B*S) per column, slot b*S + k; empty slots 0, and NaN in the steps of a row that lacks the value. */
  values: Record<StepColumn, Float64Array>;
  /** Whether every row has the column (a view may refuse to read one that some row lacks). */
  complete: Record<StepColumn, boolean>;
}

/** The rows' step tables laid out as (B*S) columns. */
export function stepColumns(rows: readonly BatchRow[], S: number): StepColumns {
  const values = {} as Record<StepColumn, Float64Array>, complete = {} as Record<StepColumn, boolean>;
  for (const [col, f] of Object.entries(STEP_FIELDS) as [StepColumn, (typeof STEP_FIELDS)[StepColumn]][]) {
    const out = new Float64Array(rows.length * S);
    rows.forEach((r, b) => {
      const v = r.steps[f.table];
      r.steps.starts.forEach((_, k) => (out[b * S + k] = v ? v[k]! : r.steps.lengths[k]! > 0 ? NaN : 0));
    });
    values[col] = out;
    complete[col] = rows.every((r) => r.steps[f.table] !== null);
  }
  return { values, complete };
}

/**
 * The policy the interpreter scores: per row (L each), the current log p and entropy, or the
 * current logits (L rows of V); and the reference's log p when the stage has one.
 */
export type RowPolicy = ({ logp: readonly ArrayLike<number>[]; H: readonly ArrayLike<number>[] } | { V: number; logits: readonly (readonly (readonly number[])[])[] }) & {
  refLogp: readonly ArrayLike<number>[] | null;
};

/** The optimizer-step counters and the `rand` seed (u32) a batch is evaluated at. */
export interface BatchCounters {
  steps: number;
  totalSteps: number;
  seed: number;
}

/**
 * Where each row's response tokens lie among the N = B*T token slots: token t of row b at
 * slot b*T + first[b] + t. The interpreter's Batch and replay's upload put them from slot 0
 * (responseSlots); the training step after each row's prompt (runtime/loop/rl/batch.ts).
 */
export interface TokenSlots {
  T: number;
  first: readonly number[];
}

/** Response tokens from slot 0, T = the longest response (>= 1): the batch format's layout. */
export function responseSlots(rows: readonly BatchRow[]): TokenSlots {
  return { T: Math.max(1, ...rows.map((r) => r.tokens.length)), first: rows.map(() => 0) };
}

/**
 * Each row's per-token values (`width` numbers per token, row b's array holding L_b * width)
 * written at the row's token slots of `out` (N * width); other slots keep what they hold.
 */
export function placeRows(values: readonly ArrayLike<number>[], slots: TokenSlots, width: number, out: Float32Array | Float64Array | Int32Array | Uint32Array): void {
  values.forEach((v, b) => {
    const at = (b * slots.T + slots.first[b]!) * width;
    for (let i = 0; i < v.length; i++) out[at + i] = v[i]!;
  });
}

/**
 * The interpreter's Batch over `rows`: token t of row i at slot i*T + t, T = the longest
 * response (>= 1); step k at slot i*S + k; groups renumbered in increasing id. A per-step
 * value some row lacks is null (the interpreter refuses to read it).
 */
export function rowsBatch(rows: readonly BatchRow[], policy: RowPolicy, counters: BatchCounters): { batch: Batch; groupIds: number[] } {
  const B = rows.length;
  const slots = responseSlots(rows);
  const T = slots.T;
  const S = stepSlots(rows);
  const N = B * T;
  const seq = seqColumns(rows);
  const groupIds = seq.groupIds;
  const cols = stepColumns(rows, S);
  const V = "logits" in policy ? policy.V : 0;
  const b: Batch = {
    B, T, S, nGroups: groupIds.length,
    group: Int32Array.from(seq.values.group),
    reward: seq.values.r,
    correct: seq.values.correct,
    format: seq.values.format,
    length: seq.values.length, // a new SEQ_FIELDS column needs its line here (its Batch field)
    stepIdx: new Int32Array(N).fill(-1),
    ids: new Int32Array(N),
    oldLogp: new Float64Array(N),
    refLogp: policy.refLogp ? new Float64Array(N) : null,
    rolloutLogp: rows.every((r) => r.rolloutLogp) ? new Float64Array(N) : null,
    C: cols.values.C,
    stepLength: cols.values.length,
    stepEntropy: cols.values.entropy,
    V,
    temperature: 1, // with logits, replay sets the pipeline's rollout temperature (replay.ts)
    logits: V > 0 ? new Float64Array(N * V) : null,
    logp: V > 0 ? null : new Float64Array(N),
    H: V > 0 ? null : new Float64Array(N),
    steps: counters.steps,
    totalSteps: counters.totalSteps,
    seed: counters.seed >>> 0,
  };
  for (const col of ["reward", "mcValue", "mcNext", "judge"] as const) b[STEP_FIELDS[col].batch] = cols.complete[col] ? cols.values[col] : null;
  placeRows(rows.map((r) => tokenSteps(r.steps, r.tokens.length)), slots, 1, b.stepIdx);
  placeRows(rows.map((r) => r.tokens), slots, 1, b.ids);
  placeRows(rows.map((r) => r.oldLogp), slots, 1, b.oldLogp);
  if (b.rolloutLogp) placeRows(rows.map((r) => r.rolloutLogp!), slots, 1, b.rolloutLogp);
  placePolicy(policy, slots, b);
  return { batch: b, groupIds };
}

/** The policy's per-token values at the rows' slots of `b` (logits, or logp and H; refLogp). */
function placePolicy(policy: RowPolicy, slots: TokenSlots, b: Batch): void {
  if (b.refLogp) placeRows(policy.refLogp!, slots, 1, b.refLogp);
  if ("logits" in policy) placeRows(policy.logits.map((rows) => rows.flat()), slots, policy.V, b.logits!);
  else {
    placeRows(policy.logp, slots, 1, b.logp!);
    placeRows(policy.H, slots, 1, b.H!);
  }
}
