// The policy model: training tokens/s (forward, next-token loss, backward, clipping, AdamW)
// at batch 32 x 128 and sampling tokens/s at batch 128 (prefill 32 tokens, 96 new), for the
// tiny and small presets, against the same model and batch in PyTorch on this CPU with every
// core (the ratios) and with one thread (extra columns).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { configToJson } from "../../runtime/engine/model/config.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { parameterCount } from "../../runtime/engine/model/layout.js";
import { lmBatch, lmLossStep } from "../../runtime/engine/model/lm-loss.js";
import { AdamWOptimizer, ADAMW_DEFAULTS } from "../../runtime/engine/model/optimizer.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { ensureTorch } from "../lib/setup.js";
import { fmt, ratio, timeIt } from "../lib/timing.js";
import { runTorchJson, torchSetting, type TorchThreads } from "../lib/torch.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

const TRAIN = { B: 32, T: 128 };
const SAMPLE = { B: 128, prompt: 32, newTokens: 96 };
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "torch_model.py");

type TorchModel = { ok: true; train: number; sample: number; threads: number; blasThreads: number | null } | { ok: false; why: string };

function torchModel(config: Record<string, unknown>, seconds: number, threads: TorchThreads): TorchModel {
  const args = { config, train: [TRAIN.B, TRAIN.T], sample: [SAMPLE.B, SAMPLE.prompt, SAMPLE.newTokens], seconds };
  const r = runTorchJson(SCRIPT, args, threads);
  if (!r.ok) return r;
  const o = r.out as { train_tokens_per_s: number; sample_tokens_per_s: number; threads: number; blas_threads: number | null };
  return { ok: true, train: o.train_tokens_per_s, sample: o.sample_tokens_per_s, threads: o.threads, blasThreads: o.blas_threads };
}

export const modelSuite: Suite = {
  name: "model",
  description: "policy training tokens/s (batch 32 x 128) and sampling tokens/s (batch 128 x 96 new) vs PyTorch CPU",
  async run(ctx: BenchContext): Promise<Table[]> {
    const gpu = await ctx.gpu();
    const seconds = ctx.quick ? 0.5 : 5;
    const torchOk = ensureTorch(ctx.log);
    const rows: (string | number)[][] = [];
    const notes: string[] = [];
    for (const preset of ["tiny", "small"]) {
      const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
      const vocab = Object.keys((files.tokenizer.model as { vocab: object }).vocab).length;
      const config = presetConfig(preset, vocab, 1, [2]);
      const dir = mkdtempSync(join(tmpdir(), `acpo-bench-${preset}-`));
      saveCheckpoint(dir, { config, weights: initWeights(config, 0), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
      const policy = Policy.load(gpu, dir);
      const opt = new AdamWOptimizer(gpu, policy.weights, ADAMW_DEFAULTS);
      const seqs = Array.from({ length: TRAIN.B }, (_, b) => Array.from({ length: TRAIN.T + 1 }, (_, t) => 3 + ((b * 7 + t * 13) % (vocab - 3))));
      const batch = lmBatch(seqs, seqs.map(() => 0));
      ctx.log(`${preset}: training step`);
      const train = await timeIt(async () => {
        policy.weights.zeroGrads();
        const { release } = lmLossStep(gpu, policy.model, batch);
        opt.step();
        await gpu.sync();
        release();
      }, { minSeconds: seconds, minReps: 2 });
      const trainTps = (TRAIN.B * TRAIN.T) / train.median;
      ctx.log(`${preset}: sampling`);
      const prompts = Array.from({ length: SAMPLE.B }, (_, b) => Array.from({ length: SAMPLE.prompt }, (_, t) => 3 + ((b + t * 5) % (vocab - 3))));
      const sample = await timeIt(async () => {
        await generate(policy, prompts, { maxNewTokens: SAMPLE.newTokens, temperature: 1, seed: 1, stopIds: [] });
      }, { minSeconds: seconds, minReps: 2, warmup: 1 });
      const sampleTps = (SAMPLE.B * SAMPLE.newTokens) / sample.median;
      opt.release();
      policy.release();
      const run = (threads: TorchThreads): TorchModel => {
        ctx.log(`${preset}: PyTorch, ${threads === "all" ? "every core" : "one thread"}`);
        return torchOk.ok ? torchModel(configToJson(config), seconds, threads) : { ok: false, why: torchOk.why };
      };
      const t = run("all"), t1 = run(1);
      for (const [x, what] of [[t, "every core"], [t1, "one thread"]] as const) {
        if (!x.ok) notes.push(`PyTorch baseline (${preset}, ${what}): skipped (${x.why})`);
        else if (preset === "tiny") notes.push(`PyTorch ${what}: ${torchSetting(x === t ? "all" : 1, x.blasThreads)}`);
      }
      const v = (x: TorchModel, k: "train" | "sample"): number => (x.ok ? x[k] : NaN);
      const best = (k: "train" | "sample"): number => Math.max(...[v(t, k), v(t1, k)].filter(Number.isFinite));
      rows.push([
        `${preset} (${(parameterCount(config) / 1e6).toFixed(2)} M params)`,
        fmt(trainTps, 0), fmt(v(t, "train"), 0), ratio(trainTps, v(t, "train")), fmt(v(t1, "train"), 0), ratio(trainTps, best("train")),
        fmt(sampleTps, 0), fmt(v(t, "sample"), 0), ratio(sampleTps, v(t, "sample")), fmt(v(t1, "sample"), 0), ratio(sampleTps, best("sample")),
        fmt(sample.median, 2),
      ]);
    }
    notes.push(`training: forward + mean next-token loss + backward + global-norm clip + AdamW on ${TRAIN.B} x ${TRAIN.T} tokens; median of repetitions after a warm-up`);
    notes.push(`sampling: ${SAMPLE.B} prompts of ${SAMPLE.prompt} tokens, ${SAMPLE.newTokens} new tokens each with a KV cache, temperature 1; 'rollout s' is one such batch`);
    notes.push("PyTorch: the same architecture and sizes (torch_model.py); ratios against every core, '1t' columns one thread, 'vs best' against the faster of the two (a loaded machine can make every-core PyTorch the slower)");
    notes.push("targets: training >= 1/8 of PyTorch's tokens/s; a 128 x 96 rollout under 10 s");
    return [{ title: "policy model throughput", columns: ["model", "train tok/s", "torch", "ratio", "torch 1t", "vs best", "sample tok/s", "torch", "ratio", "torch 1t", "vs best", "rollout s"], rows, notes }];
  },
};
