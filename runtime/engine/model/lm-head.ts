// The LM head streamed in row chunks. A 151,936-token vocabulary makes N x V logits far
// larger than one storage binding (lavapipe: 128 MiB, 220 rows) and than memory at
// thousands of tokens, so no caller materialises them for a whole batch: the hidden states
// (N, C) are multiplied by the head a chunk of rows at a time, the row results (log p,
// entropy, a sampled id, dlogits -> dx and dW) are computed per chunk, and only per-row
// values (N) live across chunks. Peak logits memory: two (R, V) buffers (logits, dlogits),
// R = rows per chunk, whatever N is.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { scaleGrads } from "../ops/gradnorm.js";
import { rowGrad, rowStats } from "../ops/rowstats.js";
import type { Transformer } from "./transformer.js";

/** Default bytes one chunk's logits may take (ACPO_LOGITS_CHUNK_MB overrides). */
export const DEFAULT_LOGITS_CHUNK_BYTES = 64 * 2 ** 20;

/** The chunk budget: ACPO_LOGITS_CHUNK_MB (a positive number of MiB) or the default. */
export function logitsChunkBudget(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ACPO_LOGITS_CHUNK_MB;
  if (raw === undefined || raw === "") return DEFAULT_LOGITS_CHUNK_BYTES;
  const mb = Number(raw);
  if (!(mb > 0 && Number.isFinite(mb))) throw new Error(`ACPO_LOGITS_CHUNK_MB=${raw}: expected a positive number of MiB`);
  return Math.floor(mb * 2 ** 20);
}

/**
 * Rows per logits chunk: as many (V)-rows as fit half the device's largest storage binding
 * (margin for the pool's bucket rounding) and the budget, at least 1, at most N.
 */
export function logitsChunkRows(limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }, V: number, N: number, budget = logitsChunkBudget()): number {
  const rowBytes = 4 * V;
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / 2;
  if (rowBytes > cap) {
    throw new Error(`one row of logits (vocab_size ${V}: ${rowBytes} bytes) exceeds half this device's maxStorageBufferBindingSize (${limits.maxStorageBufferBindingSize}); the LM head cannot run on it`);
  }
  return Math.max(1, Math.min(N, Math.floor(Math.min(cap, budget) / rowBytes)));
}

/** Row ranges [r0, r0 + rows) covering N in chunks of R. */
export function rowChunks(N: number, R: number): { r0: number; rows: number }[] {
  const out: { r0: number; rows: number }[] = [];
  for (let r0 = 0; r0 < N; r0 += R) out.push({ r0, rows: Math.min(R, N - r0) });
  return out;
}

/**
 * Chunk buffers for the LM head of `model` over N hidden rows. `logits(r0, rows)` fills
 * and returns the (R, V) chunk for hidden rows r0..r0+rows; `backward` turns a dlogits
 * chunk into dhidden rows and head weight gradients.
 */
export class LmHeadStream {
  readonly R: number;
  readonly chunks: { r0: number; rows: number }[];
  readonly x: Tensor; // (R, C) hidden rows of the chunk
  readonly out: Tensor; // (R, V) logits of the chunk
  private dx: Tensor | null = null; // (R, C)
  private dl: Tensor | null = null; // (R, V)
  private dWT: Tensor | null = null; // (C, V) head weight gradient, transposed

  constructor(
    private readonly gpu: Gpu,
    readonly model: Transformer,
    readonly N: number,
    budget = logitsChunkBudget(),
  ) {
    const c = model.config;
    // The binding limit as the Gpu applies it (a test may lower it below the adapter's).
    this.R = logitsChunkRows({ maxStorageBufferBindingSize: gpu.maxBindingBytes, maxBufferSize: gpu.device.limits.maxBufferSize }, c.vocabSize, N, budget);
    this.chunks = rowChunks(N, this.R);
    this.x = gpu.empty([this.R, c.hiddenSize], "head x chunk");
    this.out = gpu.empty([this.R, c.vocabSize], "logits chunk");
  }

  /** Logits (rows, V) of hidden rows r0..r0+rows of `hidden` (N, C), in `this.out`. */
  logits(hidden: Tensor, r0: number, rows: number): Tensor {
    const C = this.model.config.hiddenSize;
    this.gpu.copy(this.x, hidden, rows * C, r0 * C, 0);
    this.model.headForward(this.out, this.x, rows);
    return this.out;
  }

  /** A (R, V) buffer for the chunk's dlogits. */
  dlogits(): Tensor {
    this.dl ??= this.gpu.empty([this.R, this.model.config.vocabSize], "dlogits chunk");
    return this.dl;
  }

  /**
   * Backward of the chunk last passed to `logits`: dhidden rows r0..r0+rows (N, C) =
   * dlogits @ W_head, and dW_head^T += x^T dlogits, summed in a (C, V) buffer that
   * `finish` adds to weights.grads.
   */
  backward(dhidden: Tensor, dlogits: Tensor, r0: number, rows: number): void {
    const C = this.model.config.hiddenSize;
    this.dx ??= this.gpu.empty([this.R, C], "head dx chunk");
    if (this.model.headRanges().length > 1) {
      // A head over several binding ranges: no (C, V) buffer (it would not bind either); dW rows per range.
      this.model.headBackward(this.dx, false, dlogits, this.x, rows);
    } else {
      this.dWT ??= this.gpu.zeros([C, this.model.config.vocabSize], "head dW^T");
      this.model.headBackwardT(this.dx, dlogits, this.x, rows, this.dWT);
    }
    this.gpu.copy(dhidden, this.dx, rows * C, 0, r0 * C);
  }

  /** Add the head weight gradient summed by `backward` to weights.grads (once, after the last chunk). */
  finish(): void {
    if (!this.dWT) return;
    this.model.addHeadGradT(this.dWT);
    this.gpu.release(this.dWT);
    this.dWT = null;
  }

  release(): void {
    this.gpu.release(this.x, this.out, this.dx, this.dl, this.dWT);
  }
}

/** Copy `rows` elements of a per-row (N) tensor from chunk-local `src` to `dst` at r0. */
export function copyRowsOut(gpu: Gpu, dst: Tensor, src: Tensor, r0: number, rows: number): void {
  gpu.copy(dst, src, rows, 0, r0);
}

/** Copy `rows` elements of a per-row (N) tensor from `src` at r0 to chunk-local `dst`. */
export function copyRowsIn(gpu: Gpu, dst: Tensor, src: Tensor, r0: number, rows: number): void {
  gpu.copy(dst, src, rows, r0, 0);
}

export interface RowStatsOut {
  logp: Tensor | null; // (N) log p of targets
  lse?: Tensor | null; // (N) logsumexp of the (tempered) row
  H?: Tensor | null; // (N) entropy
  /** Rows are softmax(logits / temperature) (default 1). */
  temperature?: number;
}

/** Multiply a chunk by 1/temperature, the f32 product the sampler and loss kernels use. */
function temper(gpu: Gpu, t: Tensor, inv: Tensor | null): void {
  if (inv) scaleGrads(gpu, [t], inv);
}

function inverseTemperature(gpu: Gpu, temperature = 1): Tensor | null {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new Error(`temperature must be a positive number, got ${temperature}`);
  return temperature === 1 ? null : gpu.upload(Float32Array.of(1 / temperature), [1], "inverse temperature");
}

/**
 * Per-row log p of `targets` (N, u32), logsumexp and entropy of softmax(head(hidden) / T),
 * a chunk of rows at a time. The N x V logits never exist at once.
 */
export function headRowStats(gpu: Gpu, head: LmHeadStream, hidden: Tensor, targets: Tensor | null, o: RowStatsOut): void {
  const R = head.R, V = head.model.config.vocabSize;
  const inv = inverseTemperature(gpu, o.temperature);
  const chunk = (t: Tensor | null | undefined, label: string, dtype: "f32" | "u32" = "f32") => (t ? gpu.empty([R], label, dtype) : null);
  const ids = chunk(o.logp ? targets : null, "chunk targets", "u32"), lp = chunk(o.logp, "chunk logp"), lse = chunk(o.lse, "chunk lse"), h = chunk(o.H, "chunk entropy");
  for (const { r0, rows } of head.chunks) {
    const logits = head.logits(hidden, r0, rows);
    temper(gpu, logits, inv);
    if (ids) copyRowsIn(gpu, ids, targets!, r0, rows);
    rowStats(gpu, lp, lse, h, logits, ids, rows, V);
    if (lp) copyRowsOut(gpu, o.logp!, lp, r0, rows);
    if (lse) copyRowsOut(gpu, o.lse!, lse, r0, rows);
    if (h) copyRowsOut(gpu, o.H!, h, r0, rows);
  }
  gpu.release(ids, lp, lse, h, inv);
}

export interface RowGradIn {
  dlogp: Tensor | null; // (N) d loss / d log p(target), with targets
  dH: Tensor | null; // (N) d loss / d H, with H
  lse: Tensor; // (N) from headRowStats at the same temperature
  H: Tensor | null; // (N)
  temperature?: number;
}

/**
 * Backward through the rows and the LM head, a chunk at a time: for each chunk, logits ->
 * dlogits = dlogp (onehot - p) + dH (-p (log p + H)) (times 1/T for the tempering) ->
 * dhidden rows (N, C) and dW_head (+=, weights.grads). The caller then runs
 * model.backwardHidden(dhidden).
 */
export function headRowGrad(gpu: Gpu, head: LmHeadStream, hidden: Tensor, dhidden: Tensor, targets: Tensor | null, g: RowGradIn): void {
  const R = head.R, V = head.model.config.vocabSize;
  const inv = inverseTemperature(gpu, g.temperature);
  const chunk = (t: Tensor | null, label: string, dtype: "f32" | "u32" = "f32") => (t ? gpu.empty([R], label, dtype) : null);
  const ids = chunk(g.dlogp ? targets : null, "chunk targets", "u32"), dlogp = chunk(g.dlogp, "chunk dlogp"), dH = chunk(g.dH, "chunk dH");
  const lse = gpu.empty([R], "chunk lse"), H = chunk(g.dH ? g.H : null, "chunk entropy");
  const dl = head.dlogits();
  for (const { r0, rows } of head.chunks) {
    const logits = head.logits(hidden, r0, rows);
    temper(gpu, logits, inv);
    if (ids) copyRowsIn(gpu, ids, targets!, r0, rows);
    if (dlogp) copyRowsIn(gpu, dlogp, g.dlogp!, r0, rows);
    if (dH) copyRowsIn(gpu, dH, g.dH!, r0, rows);
    if (H) copyRowsIn(gpu, H, g.H!, r0, rows);
    copyRowsIn(gpu, lse, g.lse, r0, rows);
    rowGrad(gpu, dl, dlogp, dH, logits, ids, lse, H, rows, V, false);
    temper(gpu, dl, inv); // z = logits / T: d/dlogits = (1/T) d/dz
    head.backward(dhidden, dl, r0, rows);
  }
  head.finish();
  gpu.release(ids, dlogp, dH, lse, H, inv);
}
