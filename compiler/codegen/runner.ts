// Running a stage's kernels on GPU tensors: what the training loop calls once per
// minibatch, and what `acpo replay` and the tests use.
//
//   const runner = new StageRunner(gpu, stageKernels);       // from generateStage or loadPlan
//   const out = runner.run({ dims, logits, ids, tstep, oldLogp, refLogp, seq, steps, counters, temperature });
//   policy.backward(out.dlogits!);                           // dlogits already aggregated
//   const s = await runner.readSummary(out);                 // loss, clip fractions, ...
//   runner.release(out);
//
// `run` only records dispatches (many per submit, no readback); the reads flush. Inputs the
// caller keeps on the GPU, N = B*T right-padded token slots (prompt, response, padding):
//   logits   (N, V) f32   current policy (divided by `temperature` in the kernels), or
//                         `policy` (N, 2) f32 [logp, H] without logits
//   ids      (N)    u32   sampled token at each slot (ignored outside the response)
//   tstep    (N)    i32   step index of the token, -1 outside the response (the response mask);
//                         0 for every response token when the pipeline has no segmentation
//   oldLogp  (N)    f32   log p under the rollout policy
//   refLogp  (N)    f32   log p under the stage's reference (needed when uses.ref)
//   seq      (B, K_SEQ) f32   per response, SEQ_COLUMNS: reward r, correct (0/1), length, group id, format (0/1)
//   steps    (B*S, K_STP) f32 per step slot: C, length in tokens (0 = unused slot), mean rollout entropy, step reward
//                         (needed when uses.steps; see packSteps)
// Outputs (fresh tensors unless `out` is passed back in):
//   dlogits  (N, V)  d loss / d logits, scaled by the aggregation rule (null without logits)
//   tok      (N, K_TOK) per-token columns TOK_COLUMNS (0 outside the response)
//   summary  (17)    SUMMARY_FIELDS
//   stats    reductions and per-level values (readNamed reads the named ones)
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import { rowGrid } from "../../runtime/engine/ops/wgsl-reduce.js";
import { grid1d } from "../../runtime/engine/ops/grid.js";
import { SUMMARY_FIELDS, type Summary } from "../interpret/summary.js";
import type { StageKernels } from "./index.js";
import { K_SEQ, K_STP, K_TOK, levelCount, SEQ_COLUMNS, type SeqColumn, slotOffsets, statsSize, STEP_COLUMNS, type StepColumn, TOK_COLUMNS, type Dims } from "./layout.js";

export interface StageDims extends Dims {
  V: number;
}

export interface StageInputs {
  dims: StageDims;
  logits?: Tensor; // (N, V)
  policy?: Tensor; // (N, 2) logp, H, when there are no logits
  ids: Tensor; // (N) u32
  tstep: Tensor; // (N) i32
  oldLogp: Tensor; // (N)
  refLogp?: Tensor; // (N)
  rolloutLogp?: Tensor; // (N) the sampler's recorded log-probs (needed when uses.rollout)
  seq: Tensor; // (B, K_SEQ)
  steps?: Tensor; // (B*S, K_STP)
  counters: { steps: number; totalSteps: number; seed: number };
  /**
   * The rollout temperature T: the policy is softmax(logits / T), the distribution the
   * sampler drew from (spec/algorithms.md); ignored with `policy` instead of logits.
   */
  temperature: number;
  /** Param overrides (run-time --set); defaults are the plan's values. */
  params?: Record<string, number>;
}

export interface StageOutputs {
  dlogits: Tensor | null; // (N, V)
  tok: Tensor; // (N, K_TOK)
  summary: Tensor; // (17) SUMMARY_FIELDS
  stats: Tensor; // (statsSize)
  pol: Tensor | null; // (N, 2) prepass output
}

export class StageRunner {
  private dummy: Tensor | null = null;

  constructor(private readonly gpu: Gpu, readonly sk: StageKernels) {}

  /** Compile every kernel now (throws on a WGSL or validation error). */
  async compile(): Promise<void> {
    for (const k of this.sk.kernels) await this.gpu.compile(k.kernel);
  }

  run(inp: StageInputs, out?: StageOutputs): StageOutputs {
    const { gpu, sk } = this;
    const d = inp.dims;
    const N = d.B * d.T;
    checkInputs(sk, inp);
    const withLogits = inp.logits !== undefined;
    const o: StageOutputs = out ?? {
      dlogits: withLogits ? gpu.empty([N, d.V], "dlogits") : null,
      tok: gpu.empty([N, K_TOK], "tok"),
      summary: gpu.empty([SUMMARY_FIELDS.length], "summary"),
      stats: gpu.empty([statsSize(sk.layout, d)], "stats"),
      pol: withLogits && sk.layout.needsPolicy ? gpu.empty([N, 2], "pol") : null,
    };
    this.dummy ??= gpu.zeros([4], "unused");
    const bufs: Record<string, Tensor | undefined | null> = {
      logits: inp.logits, ids: inp.ids, tstep: inp.tstep, old_logp: inp.oldLogp, ref_logp: inp.refLogp, rollout_logp: inp.rolloutLogp,
      seqin: inp.seq, stpin: inp.steps, pol: withLogits ? o.pol : inp.policy, stats: o.stats, tok: o.tok,
      dlogits: o.dlogits, summary: o.summary,
    };
    const uniforms: Record<string, number> = {
      N, T: d.T, V: d.V, B: d.B, S: d.S, NG: d.NG, seed: inp.counters.seed >>> 0, zero: 0,
      steps: inp.counters.steps, total_steps: inp.counters.totalSteps, inv_temp: 1 / inp.temperature,
    };
    for (const [k, v] of Object.entries({ ...sk.params, ...inp.params })) uniforms[`p_${k}`] = v;
    for (const { role, levels, kernel } of sk.kernels) {
      if (withLogits ? role === "loss_head_policy" : role === "prepass" || role === "loss_head") continue;
      const tensors = kernel.bindings.map((b) => bufs[b.name] ?? this.dummy!);
      let grid: [number, number];
      if (role === "prepass" || role === "loss_head") grid = rowGrid(N);
      else if (role === "phase") grid = rowGrid(levels!.reduce((a, l) => a + levelCount(l, d), 0));
      else if (role === "values") grid = grid1d(Math.max(d.NG, d.B, d.B * d.S, 1), kernel.workgroupSize[0]);
      else if (role === "loss_head_policy") grid = grid1d(N, kernel.workgroupSize[0]);
      else grid = [1, 1];
      gpu.dispatch(kernel, tensors, uniforms, grid);
    }
    return o;
  }

  async readSummary(o: StageOutputs): Promise<Summary> {
    const v = await this.gpu.read(o.summary);
    return Object.fromEntries(SUMMARY_FIELDS.map((f, i) => [f, v[i]!])) as Summary;
  }

  /** Per-token columns, each (N). */
  async readTokens(o: StageOutputs, N: number): Promise<Record<(typeof TOK_COLUMNS)[number], Float32Array>> {
    const v = (await this.gpu.read(o.tok)).subarray(0, N * K_TOK);
    return Object.fromEntries(TOK_COLUMNS.map((c, j) => [c, Float32Array.from({ length: N }, (_, n) => v[n * K_TOK + j]!)])) as Record<(typeof TOK_COLUMNS)[number], Float32Array>;
  }

  /** The named values at their levels (group: NG, sequence: B, step: B*S, batch: 1). */
  async readNamed(o: StageOutputs, d: Dims): Promise<{ name: string; level: string; values: Float32Array }[]> {
    const stats = await this.gpu.read(o.stats);
    const offs = slotOffsets(this.sk.layout);
    return this.sk.named.map((x) => {
      const [g, b, s, one] = offs.get(x.node)!;
      const off = g * d.NG + b * d.B + s * d.B * d.S + one;
      return { name: x.name, level: x.level, values: stats.slice(off, off + levelCount(x.level, d)) };
    });
  }

  release(o: StageOutputs): void {
    this.gpu.release(o.dlogits, o.tok, o.summary, o.stats, o.pol);
  }
}

function checkInputs(sk: StageKernels, inp: StageInputs): void {
  const d = inp.dims;
  const N = d.B * d.T;
  const need = (name: string, t: Tensor | undefined, n: number) => {
    if (!t) throw new Error(`stage '${sk.stage}': input ${name} is required`);
    if (t.size < n) throw new Error(`stage '${sk.stage}': input ${name} has ${t.size} elements, needs ${n}`);
  };
  if (!(inp.temperature > 0 && Number.isFinite(inp.temperature))) throw new Error(`stage '${sk.stage}': temperature must be a positive number, got ${inp.temperature}`);
  if ((inp.logits === undefined) === (inp.policy === undefined)) throw new Error(`stage '${sk.stage}': pass exactly one of logits and policy`);
  if (inp.logits) need("logits", inp.logits, N * d.V);
  if (inp.policy) need("policy", inp.policy, N * 2);
  need("ids", inp.ids, N);
  need("tstep", inp.tstep, N);
  need("oldLogp", inp.oldLogp, N);
  need("seq", inp.seq, d.B * K_SEQ);
  if (sk.uses.ref) need("refLogp", inp.refLogp, N);
  if (sk.uses.rollout) need("rolloutLogp", inp.rolloutLogp, N);
  if (sk.uses.steps) need("steps", inp.steps, d.B * d.S * K_STP);
  if (d.S < 1 || d.NG < 1) throw new Error(`stage '${sk.stage}': S and NG must be at least 1`);
}

/** Per-response inputs packed as the kernels read them: (B, K_SEQ) in SEQ_COLUMNS order. */
export function packSequences(cols: Readonly<Record<SeqColumn, ArrayLike<number>>>): Float32Array {
  const B = cols.r.length;
  const out = new Float32Array(B * K_SEQ);
  SEQ_COLUMNS.forEach((c, j) => {
    const v = cols[c];
    for (let i = 0; i < B; i++) out[i * K_SEQ + j] = v[i]!;
  });
  return out;
}

/** Per-step inputs packed as the kernels read them: (B*S, K_STP) in STEP_COLUMNS order. */
export function packSteps(cols: Readonly<Record<StepColumn, ArrayLike<number>>>): Float32Array {
  const n = cols.C.length;
  const out = new Float32Array(n * K_STP);
  STEP_COLUMNS.forEach((c, j) => {
    const v = cols[c];
    for (let i = 0; i < n; i++) out[i * K_STP + j] = v[i]!;
  });
  return out;
}
