// A Qwen2.5-0.5B-shaped policy with random weights (24 layers, hidden 896, 14 query / 2 KV
// heads of 64, SwiGLU 4864, vocabulary 151,936, tied embeddings, RoPE theta 1e6, q/k/v
// biases) and a 2-layer version: training tokens/s (forward, loss through the chunked LM
// head, backward, clip, AdamW on one batch), sampling tokens/s (KV-cache decode of a few
// prompts) and peak memory, against PyTorch with the same shapes on this CPU (every core,
// plus a one-thread column); and the chunked LM head's peak against the N x V logits a
// materialised head holds. Sizes: ACPO_BENCH_QWEN_* (qwen-shaped-model.ts); the default
// is a minimal measurement (1 x 64 tokens, 8 new tokens) that a 2-core CPU finishes.
//
// The (151,936, 896) embedding (544 MiB) exceeds lavapipe's 128 MiB per binding: its kernels
// run per vocabulary row range (gpu.ts bindingRanges). Where the memory plan still refuses a
// shape (cli/memory-plan.ts, what `acpo doctor` prints: e.g. an activation over a binding),
// acpo's row says so and a fallback row keeps every layer shape with the largest vocabulary
// that binds whole; PyTorch runs both. The head table runs the real (151,936, 896) head.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { planOn } from "../../cli/memory-plan.js";
import { bucketBytes, type Gpu } from "../../runtime/engine/gpu.js";
import { type ModelConfig, configToJson } from "../../runtime/engine/model/config.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { parameterCount } from "../../runtime/engine/model/layout.js";
import { headRowGrad, headRowStats, LmHeadStream } from "../../runtime/engine/model/lm-head.js";
import { lmBatch, lmLossStep } from "../../runtime/engine/model/lm-loss.js";
import { AdamWOptimizer, ADAMW_DEFAULTS } from "../../runtime/engine/model/optimizer.js";
import type { Policy } from "../../runtime/engine/model/policy.js";
import type { TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { Rng } from "../../runtime/engine/rng.js";
import { ensureTorch } from "../lib/setup.js";
import { fmt, ratio, timeIt } from "../lib/timing.js";
import { runTorchJson, torchSetting, type TorchThreads } from "../lib/torch.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";
import { binds, fittingVocab, QWEN_DEFAULTS, QWEN_QUICK, QWEN_VOCAB, qwenConfig, qwenSizes, qwenTokenizer, randomPolicy, type QwenSizes } from "./qwen-shaped-model.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "torch_qwen.py");
const MiB = 2 ** 20;
const mib = (bytes: number) => fmt(bytes / MiB, 0);

type TorchOut = { ok: true; out: Record<string, number> } | { ok: false; why: string };

/** One PyTorch measurement in its own process (its peak RSS is that measurement's). */
function torchRun(config: ModelConfig, mode: "train" | "sample" | "head", s: QwenSizes, threads: TorchThreads, log: (m: string) => void): TorchOut {
  log(`PyTorch ${mode}, ${threads === "all" ? "every core" : "one thread"}: ${config.numLayers} layers, vocab ${config.vocabSize}`);
  const sizes = mode === "train" ? { train: [s.train.B, s.train.T] } : mode === "sample" ? { sample: [s.sample.prompts, s.sample.promptLen, s.sample.newTokens] } : { head: s.head[0] };
  const r = runTorchJson(SCRIPT, { config: configToJson(config), mode, reps: s.reps, ...sizes }, threads);
  return r.ok ? { ok: true, out: r.out as Record<string, number> } : r;
}

const val = (r: TorchOut | null, k: string): number => (r?.ok ? r.out[k]! : NaN);

interface AcpoFigures {
  train: number; // tokens/s
  sample: number; // tokens/s
  peakTrain: number; // bytes of live GPU buffers at the peak of the training step
  peakSample: number; // bytes at the peak of sampling
}

/** Sampling, then training, on one random policy; peaks from the pool's live-byte accounting (gpu.memory). */
async function measureAcpo(gpu: Gpu, policy: Policy, s: QwenSizes, log: (m: string) => void): Promise<AcpoFigures> {
  const V = policy.config.vocabSize;
  const rng = new Rng(3);
  const prompts = Array.from({ length: s.sample.prompts }, () => Array.from({ length: s.sample.promptLen }, () => rng.int(V)));
  log(`acpo sampling: ${s.sample.prompts} prompts x ${s.sample.promptLen} tokens + ${s.sample.newTokens} new`);
  gpu.resetPeak();
  const sample = await timeIt(async () => {
    await generate(policy, prompts, { maxNewTokens: s.sample.newTokens, temperature: 1, seed: 1, stopIds: [] });
  }, { warmup: 1, minReps: s.reps, minSeconds: 0 });
  const peakSample = gpu.memory.peakLive;

  log(`acpo training step: ${s.train.B} x ${s.train.T} tokens`);
  gpu.resetPeak();
  const opt = new AdamWOptimizer(gpu, policy.weights, ADAMW_DEFAULTS);
  const seqs = Array.from({ length: s.train.B }, () => Array.from({ length: s.train.T + 1 }, () => rng.int(V)));
  const batch = lmBatch(seqs, seqs.map(() => 0));
  const train = await timeIt(async () => {
    policy.weights.zeroGrads();
    const { release } = lmLossStep(gpu, policy.model, batch);
    opt.step();
    await gpu.sync();
    release();
  }, { warmup: 1, minReps: s.reps, minSeconds: 0 });
  const peakTrain = gpu.memory.peakLive;
  opt.release();
  return {
    train: (s.train.B * s.train.T) / train.median,
    sample: (s.sample.prompts * s.sample.newTokens) / sample.median,
    peakTrain,
    peakSample,
  };
}

/** Why acpo cannot run `config` at these sizes on `gpu` (the memory plan's problems), or null. */
function blocked(gpu: Gpu, config: ModelConfig, s: QwenSizes): string[] | null {
  const shape = { trainB: s.train.B, trainT: s.train.T, sampleRows: s.sample.prompts, sampleT: s.sample.promptLen + s.sample.newTokens, reference: false };
  const p = planOn(gpu, config, shape);
  return p.problems.length ? p.problems : null;
}

function modelName(c: ModelConfig): string {
  const vocab = c.vocabSize === QWEN_VOCAB ? "vocab 151,936" : `vocab ${c.vocabSize} (fallback)`;
  return `${c.numLayers} layers, ${vocab} (${(parameterCount(c) / 1e6).toFixed(0)} M)`;
}

/** The throughput and memory table: per layer count, the real shape and (where it cannot run here) the fallback. */
async function throughput(ctx: BenchContext, gpu: Gpu, tok: TextTokenizer, s: QwenSizes, torchOk: { ok: true } | { ok: false; why: string }): Promise<Table> {
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  const settings = new Map<TorchThreads, number | null>();
  for (const layers of s.layers) {
    const real = qwenConfig(layers);
    const why = blocked(gpu, real, s);
    // The fallback first: on a slow machine the row acpo can run is the one worth having.
    const configs = why ? [qwenConfig(layers, { vocab: fittingVocab(gpu.device.limits, real.hiddenSize) }), real] : [real];
    if (why) notes.push(`acpo cannot run ${layers} layers at vocab 151,936 on this adapter (memory plan, as 'acpo doctor' prints it): ${why.join("; ")}`);
    for (const c of configs) {
      let a: AcpoFigures | null = null;
      if (c !== real || !why) {
        ctx.log(`${modelName(c)}: random weights`);
        const policy = randomPolicy(gpu, c, tok, 0);
        try {
          a = await measureAcpo(gpu, policy, s, ctx.log);
        } finally {
          policy.release();
        }
      }
      const t: Record<string, TorchOut | null> = {};
      for (const mode of ["train", "sample"] as const) {
        for (const threads of s.torchThreads) {
          t[`${mode}${threads}`] = torchOk.ok ? torchRun(c, mode, s, threads, ctx.log) : { ok: false, why: torchOk.why };
          const r = t[`${mode}${threads}`]!;
          if (r.ok) settings.set(threads, r.out.blas_threads ?? null);
          else notes.push(`PyTorch ${mode} (${modelName(c)}, ${threads === "all" ? "every core" : "one thread"}): skipped (${r.why})`);
        }
      }
      const row = [
        modelName(c),
        fmt(a?.train ?? NaN, 1), fmt(val(t.trainall ?? null, "tokens_per_s"), 1), ratio(a?.train ?? NaN, val(t.trainall ?? null, "tokens_per_s")), fmt(val(t.train1 ?? null, "tokens_per_s"), 1),
        fmt(a?.sample ?? NaN, 2), fmt(val(t.sampleall ?? null, "tokens_per_s"), 2), ratio(a?.sample ?? NaN, val(t.sampleall ?? null, "tokens_per_s")), fmt(val(t.sample1 ?? null, "tokens_per_s"), 2),
        a ? mib(a.peakTrain) : "-", mib(val(t.trainall ?? null, "peak_rss")), a ? mib(a.peakSample) : "-", mib(val(t.sampleall ?? null, "peak_rss")),
      ];
      rows.push(row);
      ctx.log(`row: ${row.join(" | ")}`); // kept in the log should a long run be stopped before its table prints
    }
  }
  const [sp, tr] = [s.sample, s.train];
  notes.push(
    "shape: Qwen2.5-0.5B's config.json (hidden 896, 14 query / 2 KV heads of 64, SwiGLU 4864, tied embeddings, rope_theta 1e6, q/k/v biases) with the layer count shown; weights random (HF init, N(0, 0.02)), built in memory, nothing written to disk",
    `training: one step on ${tr.B} x ${tr.T} tokens: forward, mean next-token loss through the LM head (acpo: streamed in row chunks, lm-head.ts; PyTorch: the full (N, V) logits), backward, clip_grad_norm 1.0, AdamW; ${s.reps} timed repetition(s) after one warm-up, median`,
    `sampling: ${sp.prompts} prompts of ${sp.promptLen} random tokens, prefill + ${sp.newTokens} new tokens each with a KV cache, temperature 1; tok/s counts new tokens; ${s.reps} timed repetition(s) after one warm-up`,
    "peak MiB: acpo, the most bytes held by live GPU buffers (gpu.memory.peakLive, pool bucket sizes) during the step or the sampling, weights included; PyTorch ('torch RSS'), the peak resident set (ru_maxrss) of a process that builds the model and runs only that measurement, every core (Python and torch's own ~250 MiB included)",
    ...[...settings].map(([th, blas]) => `PyTorch ${th === "all" ? "every core" : "one thread"}: ${torchSetting(th, blas)}; ratios against every core`),
    ...(s.torchThreads.includes(1) ? [] : ["PyTorch one thread: not measured (ACPO_BENCH_QWEN_TORCH)"]),
  );
  return {
    title: "Qwen2.5-0.5B-shaped policy: training and sampling tokens/s, peak memory (acpo vs PyTorch CPU)",
    columns: ["model (params)", "train tok/s", "torch", "ratio", "torch 1t", "sample tok/s", "torch", "ratio", "torch 1t", "peak train MiB", "torch RSS", "peak sample MiB", "torch RSS"],
    rows,
    notes,
  };
}

/** The LM head alone on N random hidden rows: chunked (acpo) against the N x V logits a materialised head holds. */
async function headTable(ctx: BenchContext, gpu: Gpu, tok: TextTokenizer, s: QwenSizes, torchOk: { ok: true } | { ok: false; why: string }): Promise<Table> {
  const limits = gpu.device.limits;
  // The real hidden size: a head over one binding runs per vocabulary range (transformer.ts headRanges).
  const C = 896;
  const c = qwenConfig(1, { hidden: C });
  const policy = randomPolicy(gpu, c, tok, 0);
  const model = policy.model, V = c.vocabSize;
  void policy.weights.grads; // allocated before the measurement: the head adds into them
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  try {
    for (const N of s.head) {
      ctx.log(`LM head: ${N} rows x vocab ${V}, hidden ${C}`);
      const rng = new Rng(N);
      const hidden = gpu.upload(Float32Array.from({ length: N * C }, () => rng.normal()), [N, C], "bench hidden");
      const targets = gpu.upload(Uint32Array.from({ length: N }, () => rng.int(V)), [N], "bench targets");
      const dlogp = gpu.upload(new Float32Array(N).fill(-1 / N), [N], "bench dlogp");
      const logp = gpu.empty([N], "bench logp"), lse = gpu.empty([N], "bench lse"), dhidden = gpu.empty([N, C], "bench dhidden");
      const live0 = gpu.memory.live;
      gpu.resetPeak();
      let R = 0, chunks = 0;
      const time = await timeIt(async () => {
        const head = new LmHeadStream(gpu, model, N);
        [R, chunks] = [head.R, head.chunks.length];
        headRowStats(gpu, head, hidden, targets, { logp, lse });
        headRowGrad(gpu, head, hidden, dhidden, targets, { dlogp, dH: null, lse, H: null });
        await gpu.sync();
        head.release();
      }, { warmup: 1, minReps: s.reps, minSeconds: 0 });
      const peak = gpu.memory.peakLive - live0;
      gpu.release(hidden, targets, dlogp, logp, lse, dhidden);
      // The same head with one chunk of N rows: (N, V) logits and dlogits, the (C, V) weight gradient.
      const materialised = 2 * bucketBytes(N * V * 4) + bucketBytes(C * V * 4);
      const fits = binds(limits, N, V);
      const th = torchOk.ok ? torchRun(c, "head", { ...s, head: [N] }, "all", ctx.log) : null;
      const tHead = th?.ok ? th : null;
      if (th && !th.ok) notes.push(`PyTorch head at N ${N}: skipped (${th.why})`);
      const row = [N, R, chunks, mib(peak), mib(materialised), `${(materialised / peak).toFixed(1)}x`, fits ? "yes" : "no", fmt(time.median, 2), fmt(val(tHead, "seconds"), 2), tHead ? mib(val(tHead, "peak_rss") - val(tHead, "rss_before")) : "-"];
      rows.push(row);
      ctx.log(`row: ${row.join(" | ")}`);
    }
  } finally {
    policy.release();
  }
  notes.push(
    `vocabulary 151,936 (Qwen's), hidden ${C} (${model.headRanges().length} vocabulary ranges of the head weight on this adapter); per N: log p and logsumexp of every row, then dlogits -> dhidden and the head's weight gradient, a chunk of R rows at a time (lm-head.ts, default chunk budget 64 MiB, at most half a binding)`,
    "acpo head peak: the most bytes of live GPU buffers the head allocates beyond its inputs (the (R, V) logits and dlogits chunks, the (C, V) transposed weight gradient where the head binds whole or one vocabulary range's (R, Vr) logits where it does not, the per-chunk rows); materialised: what the same head holds with one chunk of all N rows (the (N, V) logits and dlogits, and the same (C, V) weight gradient), 'binds here' whether one (N, V) buffer fits this adapter's maxStorageBufferBindingSize",
    "torch head: F.cross_entropy(hidden @ W.T) and backward into hidden and W on every core; 'torch +MiB' its peak RSS above the RSS before the pass (a fresh process per N)",
  );
  return {
    title: "LM head at vocabulary 151,936: chunked (acpo) vs the materialised N x V logits",
    columns: ["N tokens", "rows/chunk", "chunks", "acpo head peak MiB", "materialised MiB", "materialised/acpo", "binds here", "acpo head s", "torch head s", "torch +MiB"],
    rows,
    notes,
  };
}

export const qwenShapedSuite: Suite = {
  name: "qwen-shaped",
  description: "Qwen2.5-0.5B-shaped random policy (24 and 2 layers): train/sample tokens/s and peak memory vs PyTorch; chunked LM head vs materialised",
  async run(ctx: BenchContext): Promise<Table[]> {
    const s = qwenSizes(process.env, ctx.quick ? QWEN_QUICK : QWEN_DEFAULTS);
    if (!s.layers.length && !s.head.length) throw new Error("qwen-shaped: ACPO_BENCH_QWEN_LAYERS=none and ACPO_BENCH_QWEN_HEAD=none leave nothing to measure");
    const gpu = await ctx.gpu();
    const started = performance.now();
    const torchOk = ensureTorch(ctx.log);
    ctx.log("building the Qwen tokenizer");
    const tok = qwenTokenizer();
    const tables = s.layers.length ? [await throughput(ctx, gpu, tok, s, torchOk)] : [];
    if (s.head.length) tables.push(await headTable(ctx, gpu, tok, s, torchOk));
    const wall = `suite wall time ${((performance.now() - started) / 1000).toFixed(0)} s (sizes: ACPO_BENCH_QWEN_LAYERS=${s.layers.join(",") || "none"} ACPO_BENCH_QWEN_TRAIN=${s.train.B}x${s.train.T} ACPO_BENCH_QWEN_SAMPLE=${s.sample.prompts}x${s.sample.promptLen}+${s.sample.newTokens} ACPO_BENCH_QWEN_HEAD=${s.head.join(",") || "none"} ACPO_BENCH_QWEN_REPS=${s.reps} ACPO_BENCH_QWEN_TORCH=${s.torchThreads.join(",")})`;
    const last = tables[tables.length - 1]!;
    last.notes = [...(last.notes ?? []), wall];
    return tables;
  },
};
