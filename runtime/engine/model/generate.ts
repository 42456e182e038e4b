// Batched generation: prefill every prompt into a KV cache, then sample one token per row
// per step on the GPU. A prompt repeated in several rows (the G responses of a group) is
// prefilled once, into a cache of the distinct prompts, and its keys, values and last hidden
// state are copied into each of its rows (ops/kv-rows.ts). A row's prefill reads only that
// row, so the copies hold the bits a prefill of every row writes (given matmul schedules that
// sum each product in the same order at U·Tp rows as at B·Tp: the built-in ones do; a tuned
// shape class may differ), at 1/G of the work. Where the rows of each prompt fill aligned
// blocks of 8 (a group of 8 or 16 responses, rows of one prompt adjacent), the decoding steps
// tell attention so (blockPrefixes), and it reads a block's shared prompt keys once for its 8
// rows ("rows-sg", attention-decode-rows-sg.ts; the same bits). The sampled id goes straight from the sampler
// into the next step's input; the CPU reads the generated ids only every few steps, to stop
// early once every row has ended (EOS or a stop string), and once at the end. Each decoding
// step is one command buffer, submitted as soon as it is recorded (no wait), so the GPU runs
// step i while the CPU records step i + 1; the only waits are those readbacks.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { embeddingForward } from "../ops/embedding.js";
import { sampleTokens } from "../ops/sample.js";
import { LmHeadStream } from "./lm-head.js";
import { Decoder, KVCache } from "./decoder.js";
import { decodePacking } from "./weights.js";
import { blockPrefixes, distinctRows, longestRow, paddedRows } from "./padded-batch.js";
import { SG_ROWS } from "../ops/attention-decode-rows-sg.js";
import type { Policy } from "./policy.js";

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  topK?: number;
  seed: number;
  /** Token ids that end a response (included in it). Default: the tokenizer's EOS. */
  stopIds?: number[];
  /** Strings that end a response as soon as the decoded text contains one (included). */
  stopStrings?: string[];
  /** Read the generated ids back every this many steps to stop early (default 8). */
  checkEvery?: number;
  /** Keep the KV cache (caller releases it), e.g. for attribution over prefixes. */
  keepCache?: boolean;
  /**
   * Prefill each distinct prompt once and copy its keys and values into every row that
   * repeats it (default true). Off, every row is prefilled: the same results, more work.
   */
  sharePrefill?: boolean;
}

export interface Generation {
  /** Generated ids per row, up to and including the stop token/string. */
  tokens: number[][];
  /** log p of each generated token under the sampling distribution (temperature-scaled). */
  logprobs: number[][];
  /** Entropy of each step's sampling distribution. */
  entropies: number[][];
  finish: ("eos" | "stop" | "length")[];
  text: string[];
  /** The cache holding prompt + generated keys/values, when keepCache. */
  cache: KVCache | null;
  promptLengths: number[];
}

export async function generate(policy: Policy, prompts: number[][], o: GenerateOptions): Promise<Generation> {
  const gpu = policy.gpu, c = policy.config, V = c.vocabSize;
  const B = prompts.length;
  if (B === 0) return { tokens: [], logprobs: [], entropies: [], finish: [], text: [], cache: null, promptLengths: [] };
  const lens = prompts.map((p) => p.length);
  if (lens.some((l) => l === 0)) throw new Error("generate: every prompt needs at least one token");
  const Tp = longestRow(prompts);
  const maxNew = o.maxNewTokens;
  const Tmax = Tp + maxNew;
  if (Tmax > c.maxPositions) throw new Error(`generate: prompt (${Tp}) + max new tokens (${maxNew}) exceeds max_position_embeddings ${c.maxPositions}`);
  const stopIds = new Set(o.stopIds ?? policy.tokenizer.eosIds);
  const decoder = new Decoder(gpu, policy.model, decodePacking(policy.weights));
  const cache = new KVCache(gpu, policy.model, B, Tmax);
  const posTable = new Uint32Array(maxNew * B); // (maxNew, B): position of the token fed at step i+1
  for (let i = 0; i < maxNew; i++) for (let b = 0; b < B; b++) posTable[i * B + b] = lens[b]! + i;
  const t: Record<string, Tensor> = {
    posTable: gpu.upload(posTable, [maxNew, B], "positions"),
    cur: gpu.empty([B], "current ids", "u32"),
    curPos: gpu.empty([B], "current positions", "u32"),
    outIds: gpu.zeros([maxNew, B], "generated ids", "u32"), // (maxNew, B), step-major
    outLogp: gpu.zeros([maxNew, B], "generated logp"), // (maxNew, B)
    outEnt: gpu.zeros([maxNew, B], "generated entropy"), // (maxNew, B)
  };
  // The LM head a chunk of rows at a time (lm-head.ts): with a 151,936-token vocabulary,
  // B rows of logits outgrow a storage binding from B = 221 on lavapipe.
  const head = new LmHeadStream(gpu, policy.model, B);
  const sample = (hidden: Tensor, step: number) => {
    for (const { r0, rows } of head.chunks) {
      // One chunk: the head reads the hidden rows in place (no copy into the chunk buffer).
      const logits = head.chunks.length === 1 ? (policy.model.headForward(head.out, hidden, rows), head.out) : head.logits(hidden, r0, rows);
      sampleTokens(gpu, t.outIds!, t.outLogp!, t.outEnt!, logits, {
        rows, V, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed, step, idsStride: 1, idsCol: step * B + r0, statStride: 1, statCol: step * B + r0, rowOffset: r0,
      });
    }
  };
  let first: ReturnType<typeof prefill> | null = null;
  try {
    first = prefill(gpu, decoder, cache, prompts, Tp, o.sharePrefill ?? true);
    sample(first.hidden, 0);
    gpu.flush();
    const checkEvery = o.checkEvery ?? 8;
    let steps = maxNew;
    let ended: Uint32Array | null = null; // the ids read by the check that found every row ended
    for (let i = 1; i < maxNew; i++) {
      gpu.copy(t.cur!, t.outIds!, B, (i - 1) * B);
      gpu.copy(t.curPos!, t.posTable!, B, (i - 1) * B);
      sample(decoder.stepHidden(cache, t.cur!, t.curPos!, t.curPos!, 1, null, first.prefix), i);
      gpu.flush();
      if (i % checkEvery === checkEvery - 1 && i + 1 < maxNew) {
        const sofar = await gpu.readU32(t.outIds!);
        if (allEnded(sofar, B, i + 1, stopIds, o.stopStrings, policy)) { steps = i + 1; ended = sofar; break; }
      }
    }
    const allIds = ended ?? (await gpu.readU32(t.outIds!)), allLogp = await gpu.read(t.outLogp!), allEnt = await gpu.read(t.outEnt!);
    const out: Generation = { tokens: [], logprobs: [], entropies: [], finish: [], text: [], cache: o.keepCache ? cache : null, promptLengths: lens };
    for (let b = 0; b < B; b++) {
      const row = Array.from({ length: steps }, (_, i) => allIds[i * B + b]!);
      const { length, finish } = endOf(row, stopIds, o.stopStrings, policy);
      const tokens = row.slice(0, length);
      out.tokens.push(tokens);
      out.logprobs.push(Array.from({ length }, (_, i) => allLogp[i * B + b]!));
      out.entropies.push(Array.from({ length }, (_, i) => allEnt[i * B + b]!));
      out.finish.push(finish);
      out.text.push(policy.tokenizer.decode(tokens));
    }
    return out;
  } finally {
    gpu.release(...Object.values(t));
    first?.release();
    head.release();
    decoder.release();
    if (!o.keepCache) cache.release();
  }
}

/**
 * Right-padded prompts at positions 0..Tp-1 through the decoder into `cache`; returns the
 * final-norm hidden state of each row's last prompt token, (B, C), for the first sample. With
 * `share`, the distinct prompts go through the decoder, into a cache of their own, and each
 * row gets its prompt's keys and values (positions 0..Tp-1, padding included, as a prefill of
 * every row writes them) and hidden state by a gather. `prefix` ((B) u32, or null) is then
 * blockPrefixes': per row, the positions its aligned block of 8 rows holds in common.
 */
function prefill(gpu: Gpu, decoder: Decoder, cache: KVCache, prompts: readonly number[][], Tp: number, share: boolean): { hidden: Tensor; prefix: Tensor | null; release: () => void } {
  const B = prompts.length, C = decoder.model.config.hiddenSize;
  const d = share ? distinctRows(prompts) : null;
  const rows = d && d.first.length < B ? d.first.map((b) => prompts[b]!) : prompts;
  const U = rows.length, { ids, pos } = paddedRows(rows, Tp);
  const t = [
    gpu.upload(ids, [U * Tp], "prefill ids"), // (U, Tp)
    gpu.upload(pos, [U * Tp], "prefill pos"), // (U, Tp)
    gpu.upload(new Uint32Array(U), [U], "prefill start"), // (U)
    gpu.upload(Uint32Array.from(rows, (p, u) => u * Tp + p.length - 1), [U], "prefill last rows"), // (U) flat slots
  ] as const;
  if (U === B) return { hidden: decoder.stepHidden(cache, t[0], t[1], t[2], Tp, t[3]), prefix: null, release: () => gpu.release(...t) };
  // Positions past Tp are never read here: the small cache holds the prompts only.
  const small = new KVCache(gpu, decoder.model, U, Tp);
  const hiddenU = decoder.stepHidden(small, t[0], t[1], t[2], Tp, t[3]); // (U, C)
  const of = gpu.upload(d!.of, [B], "prompt of row"); // (B) u32 < U
  cache.gatherPrefix(small, of, Tp);
  const hidden = gpu.empty([B, C], "prefill hidden"); // (B, C)
  embeddingForward(gpu, hidden, hiddenU, of, { N: B, C, V: U });
  small.release(); // recorded work runs in order: a later user of its buffers comes after the gather
  // Rows of one prompt hold its bits below its length; decoding writes each row's own after.
  const shared = blockPrefixes(d!.of, prompts.map((p) => p.length), SG_ROWS);
  const prefix = shared && gpu.upload(shared, [B], "shared prefix"); // (B) u32
  return { hidden, prefix, release: () => gpu.release(...t, of, hidden, ...(prefix ? [prefix] : [])) };
}

/** Where a row's response ends: after the first stop id, or the token completing a stop string. */
function endOf(row: number[], stopIds: Set<number>, stopStrings: string[] | undefined, policy: Policy): { length: number; finish: "eos" | "stop" | "length" } {
  const idEnd = row.findIndex((id) => stopIds.has(id));
  let end = idEnd >= 0 ? idEnd + 1 : row.length;
  let finish: "eos" | "stop" | "length" = idEnd >= 0 ? "eos" : "length";
  if (stopStrings && stopStrings.length > 0) {
    const text = policy.tokenizer.decode(row.slice(0, end));
    const hit = Math.min(...stopStrings.map((s) => { const i = text.indexOf(s); return i < 0 ? Infinity : i + s.length; }));
    if (hit !== Infinity) {
      // The shortest token prefix whose text reaches past the stop string.
      for (let k = 1; k <= end; k++) {
        if (policy.tokenizer.decode(row.slice(0, k)).length >= hit) { end = k; finish = "stop"; break; }
      }
    }
  }
  return { length: end, finish };
}

function allEnded(ids: Uint32Array, B: number, steps: number, stopIds: Set<number>, stopStrings: string[] | undefined, policy: Policy): boolean {
  for (let b = 0; b < B; b++) {
    const row = Array.from({ length: steps }, (_, i) => ids[i * B + b]!);
    if (endOf(row, stopIds, stopStrings, policy).finish === "length") return false;
  }
  return true;
}
