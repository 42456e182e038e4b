// Answer log-likelihoods after many prefixes of one response, reusing a KV cache: the
// prefix's keys and values are already cached (attention is causal, so the tokens after a
// prefix never change it), so each L(prefix, Y) costs only |suffix| + |Y| new tokens, not a
// forward pass over prompt + prefix + suffix + answer.
//
// One query = (source cache row, prefix end e, unscored suffix S of s tokens, answer Y of m
// tokens). Its scoring row is a copy of the source row; with Z = S then Y (n = s + m tokens)
// we feed [t_{e-1}, Z_0, ..., Z_{n-2}] at absolute positions P+e-1 .. P+e+n-2 (P = prompt
// length, t_{e-1} the last prefix token: the prompt's last token when e = 0), so logits row j
// predicts Z_j; only rows j >= s (the answer) are summed. The first fed token overwrites its
// own cached key/value with the same values; attention for positions >= P+e-1 reads cached
// entries only below P+e-1, and the copied entries above that are overwritten before they
// are read. Rows of a chunk are right-padded to the chunk's longest Z; padded query slots
// compute garbage (NaN when they run past Tmax) that is never read, since every row is
// independent (matmuls, norms and log-softmax are per row; attention is per cache row).
//
// Memory per chunk of R rows with Tq = longest Z: the chunk's cache
// R * layers * 2 * Hkv * Tmax * D * 4 bytes (a whole copied row each), the decoder's work
// R * Tq * (4C + 2Hq*D + 2Hkv*D + 3F) * 4 bytes plus one logits chunk of the streamed LM head
// (lm-head.ts: at most 64 MiB, whatever R * Tq),
// and R * Tq floats of log-probabilities kept until the single read at the end. Chunks are
// bounded by rows (maxRows) and fed tokens (maxTokens), so memory is bounded independently of
// the batch; chunk buffers return to the pool and the next chunk reuses them.
import type { Gpu } from "../../engine/gpu.js";
import type { Tensor } from "../../engine/tensor.js";
import { Decoder, KVCache } from "../../engine/model/decoder.js";
import { decodePacking } from "../../engine/model/weights.js";
import type { Policy } from "../../engine/model/policy.js";
import { headRowStats, LmHeadStream } from "../../engine/model/lm-head.js";

export interface PrefixQuery {
  /** Row of the source cache holding prompt + response keys/values. */
  row: number;
  /** Prompt length P: the response starts at absolute position P. */
  promptLength: number;
  /** The last prefix token: response[e - 1], or the prompt's last token when e = 0. */
  lastToken: number;
  /** Prefix end e: the prefix is response tokens [0, e). */
  end: number;
  /** S: fed after the prefix and before Y, not scored (the answer's opening tag); may be empty. */
  suffix: readonly number[];
  /** Y, m >= 1 tokens, scored. */
  answer: readonly number[];
}

/** The tokens fed after the prefix: the suffix, then the answer. */
const fedOf = (q: PrefixQuery): readonly number[] => (q.suffix.length === 0 ? q.answer : [...q.suffix, ...q.answer]);

export interface ChunkLimits {
  /** Most scoring rows per chunk. */
  maxRows: number;
  /** Most fed tokens (rows * padded answer length) per chunk. */
  maxTokens: number;
}

/** Default limits: 256 rows, 8192 tokens, and the chunk's logits at most 256 MiB. */
export function defaultLimits(vocabSize: number): ChunkLimits {
  return { maxRows: 256, maxTokens: Math.max(1, Math.min(8192, Math.floor(2 ** 28 / (4 * vocabSize)))) };
}

/**
 * Greedy chunks of consecutive items, each within the limits given each item's fed length
 * (a chunk costs count * longest). An item longer than maxTokens gets a chunk of its own.
 */
export function chunksOf(lengths: readonly number[], limits: ChunkLimits): [number, number][] {
  const out: [number, number][] = [];
  let start = 0, longest = 0;
  for (let i = 0; i < lengths.length; i++) {
    const l = Math.max(longest, lengths[i]!);
    const count = i - start + 1;
    if (count > 1 && (count > limits.maxRows || count * l > limits.maxTokens)) {
      out.push([start, i]);
      start = i;
      longest = lengths[i]!;
    } else {
      longest = l;
    }
  }
  if (start < lengths.length) out.push([start, lengths.length]);
  return out;
}

/**
 * sum_j log p(Y_j | cached row up to P+e-1, S, Y_<j) for each query, under `judge`, whose
 * model must be the one that filled `source`. One GPU read at the end.
 */
export async function answerLogliksFromCache(judge: Policy, source: KVCache, queries: readonly PrefixQuery[], limits: ChunkLimits): Promise<Float64Array> {
  const gpu = judge.gpu;
  if (source.model !== judge.model) throw new Error("attribution: the KV cache was filled by a different model than the judge");
  for (const q of queries) {
    if (!(q.row >= 0 && q.row < source.B)) throw new Error(`attribution: cache row ${q.row} out of range (cache has ${source.B} rows)`);
    if (q.answer.length < 1) throw new Error("attribution: empty answer");
    const last = q.promptLength + q.end + q.suffix.length + q.answer.length - 2; // position of the last fed real token
    if (q.promptLength < 1 || last >= source.Tmax) throw new Error(`attribution: prompt ${q.promptLength} + prefix ${q.end} + suffix ${q.suffix.length} + answer ${q.answer.length} exceeds the cache's ${source.Tmax} positions`);
  }
  const fed = queries.map(fedOf);
  // Longest first, so a chunk's rows pad to similar lengths.
  const order = Array.from(queries.keys()).sort((a, b) => fed[b]!.length - fed[a]!.length || a - b);
  const chunks = chunksOf(order.map((i) => fed[i]!.length), limits);
  const decoder = new Decoder(gpu, judge.model, decodePacking(judge.model.weights));
  const pending: { logp: Tensor; rows: number[]; Tq: number }[] = [];
  try {
    for (const [c0, c1] of chunks) {
      const rows = order.slice(c0, c1);
      const Tq = Math.max(...rows.map((i) => fed[i]!.length));
      pending.push({ logp: scoreChunk(gpu, decoder, source, rows.map((i) => ({ q: queries[i]!, fed: fed[i]! })), Tq), rows, Tq });
      decoder.release(); // work buffers back to the pool: a later chunk of another shape reuses them
    }
    const out = new Float64Array(queries.length);
    for (const p of pending) {
      const lp = await gpu.read(p.logp);
      p.rows.forEach((qi, r) => {
        // Rows j < |S| predict the suffix (not scored); rows |S| .. |S|+m-1 predict Y.
        const q = queries[qi]!;
        let s = 0;
        for (let j = q.suffix.length; j < q.suffix.length + q.answer.length; j++) s += lp[r * p.Tq + j]!;
        out[qi] = s;
      });
    }
    return out;
  } finally {
    gpu.release(...pending.map((p) => p.logp));
    decoder.release();
  }
}

/** Records one chunk's scoring; returns its (R*Tq) log-probabilities of the targets Z (suffix then answer). */
function scoreChunk(gpu: Gpu, decoder: Decoder, source: KVCache, qs: { q: PrefixQuery; fed: readonly number[] }[], Tq: number): Tensor {
  const R = qs.length;
  const ids = new Uint32Array(R * Tq), pos = new Uint32Array(R * Tq), targets = new Uint32Array(R * Tq), start = new Uint32Array(R);
  qs.forEach(({ q, fed }, r) => {
    const s = q.promptLength + q.end - 1;
    start[r] = s;
    for (let j = 0; j < Tq; j++) {
      ids[r * Tq + j] = j === 0 ? q.lastToken : (fed[j - 1] ?? 0);
      pos[r * Tq + j] = s + j;
      targets[r * Tq + j] = fed[j] ?? 0;
    }
  });
  const cache = new KVCache(gpu, source.model, R, source.Tmax);
  const t = {
    ids: gpu.upload(ids, [R * Tq], "attr ids"),
    pos: gpu.upload(pos, [R * Tq], "attr pos"),
    start: gpu.upload(start, [R], "attr start"),
    targets: gpu.upload(targets, [R * Tq], "attr targets"),
  };
  cache.copyRowsFrom(source, qs.map(({ q }) => q.row));
  const hidden = decoder.stepHidden(cache, t.ids, t.pos, t.start, Tq, null); // (R*Tq, C)
  const logp = gpu.empty([R * Tq], "attr logp");
  // The LM head a chunk of rows at a time: (R*Tq, V) logits never exist at once (lm-head.ts).
  const head = new LmHeadStream(gpu, decoder.model, R * Tq);
  headRowStats(gpu, head, hidden, t.targets, { logp });
  head.release();
  gpu.release(...Object.values(t));
  cache.release();
  return logp;
}

export interface PrefillRow {
  /** Prompt then the response tokens the prefixes need (up to the answer's start). */
  tokens: readonly number[];
  /** Cache positions the row's scoring will reach (prompt + response up to the answer's end). */
  positions: number;
}

/**
 * A judge's own cache for rows that have no rollout cache under this model (judge "initial"
 * or "model"): one Decoder.step over the right-padded sequences from position 0. Padded
 * slots write keys/values beyond each row's tokens; scoring overwrites them before reading.
 * The caller keeps prefill groups within its limits (rows * longest tokens).
 */
export function prefillCache(judge: Policy, rows: readonly PrefillRow[]): KVCache {
  const gpu = judge.gpu, B = rows.length;
  const Tq = Math.max(...rows.map((r) => r.tokens.length));
  const Tmax = Math.max(Tq, ...rows.map((r) => r.positions));
  const ids = new Uint32Array(B * Tq), pos = new Uint32Array(B * Tq);
  rows.forEach((r, b) => { for (let t = 0; t < Tq; t++) { ids[b * Tq + t] = r.tokens[t] ?? 0; pos[b * Tq + t] = t; } });
  const cache = new KVCache(gpu, judge.model, B, Tmax);
  const decoder = new Decoder(gpu, judge.model, decodePacking(judge.model.weights));
  const t = {
    ids: gpu.upload(ids, [B * Tq], "prefill ids"),
    pos: gpu.upload(pos, [B * Tq], "prefill pos"),
    start: gpu.zeros([B], "prefill start", "u32"),
    // One row each (unused: only the cache is wanted): the least work stepHidden offers.
    last: gpu.upload(Uint32Array.from({ length: B }, (_, b) => b * Tq), [B], "prefill last rows"),
  };
  decoder.stepHidden(cache, t.ids, t.pos, t.start, Tq, t.last);
  gpu.release(...Object.values(t));
  decoder.release();
  return cache;
}
