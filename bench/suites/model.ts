// The policy model: training tokens/s (forward, next-token loss, backward, clipping, AdamW)
// at batch 32 x 128 and sampling tokens/s at batch 128 (prefill 32 tokens, 96 new), for the
// tiny and small presets, against the same model and batch in PyTorch on this CPU.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { saveCheckpoint } from "../../runtime/model/checkpoint.js";
import { configToJson } from "../../runtime/model/config.js";
import { generate } from "../../runtime/model/generate.js";
import { parameterCount } from "../../runtime/model/layout.js";
import { lmBatch, lmLossStep } from "../../runtime/model/lm-loss.js";
import { AdamWOptimizer, ADAMW_DEFAULTS } from "../../runtime/model/optimizer.js";
import { Policy } from "../../runtime/model/policy.js";
import { initWeights, presetConfig } from "../../runtime/model/presets.js";
import { charTokenizerFiles } from "../../runtime/model/tokenizer.js";
import { ensureTorch } from "../lib/setup.js";
import { fmt, ratio, timeIt } from "../lib/timing.js";
import { TORCH_PYTHON, torchEnv } from "../lib/torch.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

const TRAIN = { B: 32, T: 128 };
const SAMPLE = { B: 128, prompt: 32, newTokens: 96 };
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "torch_model.py");

type TorchModel = { ok: true; train: number; sample: number; threads: number } | { ok: false; why: string };

function torchModel(config: Record<string, unknown>, seconds: number): TorchModel {
  const args = { config, train: [TRAIN.B, TRAIN.T], sample: [SAMPLE.B, SAMPLE.prompt, SAMPLE.newTokens], seconds };
  const r = spawnSync(TORCH_PYTHON, [SCRIPT, JSON.stringify(args)], { env: torchEnv(), encoding: "utf8", timeout: 1_200_000 });
  if (r.status !== 0) return { ok: false, why: (r.stderr || r.stdout || String(r.error)).trim().split("\n").pop() ?? "failed" };
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
  return { ok: true, train: out.train_tokens_per_s, sample: out.sample_tokens_per_s, threads: out.threads };
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
      const t: TorchModel = torchOk.ok ? torchModel(configToJson(config), seconds) : { ok: false, why: torchOk.why };
      if (!t.ok) notes.push(`PyTorch baseline (${preset}): skipped (${t.why})`);
      rows.push([
        `${preset} (${(parameterCount(config) / 1e6).toFixed(2)} M params)`,
        fmt(trainTps, 0), t.ok ? fmt(t.train, 0) : "-", t.ok ? ratio(trainTps, t.train) : "-",
        fmt(sampleTps, 0), t.ok ? fmt(t.sample, 0) : "-", t.ok ? ratio(sampleTps, t.sample) : "-",
        fmt(sample.median, 2),
      ]);
    }
    notes.push(`training: forward + mean next-token loss + backward + global-norm clip + AdamW on ${TRAIN.B} x ${TRAIN.T} tokens; median of repetitions after a warm-up`);
    notes.push(`sampling: ${SAMPLE.B} prompts of ${SAMPLE.prompt} tokens, ${SAMPLE.newTokens} new tokens each with a KV cache, temperature 1; 'rollout s' is one such batch`);
    notes.push("PyTorch: the same architecture and sizes (torch_model.py), one OpenBLAS thread per process as the runtime issue prescribes, torch's default intra-op threads");
    notes.push("targets: training >= 1/8 of PyTorch's tokens/s; a 128 x 96 rollout under 10 s");
    return [{ title: "policy model throughput", columns: ["model", "train tok/s", "torch train tok/s", "ratio", "sample tok/s", "torch sample tok/s", "ratio", "rollout s"], rows, notes }];
  },
};
