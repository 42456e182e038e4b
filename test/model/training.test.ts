// Golden end-to-end test: N training steps (next-token loss, AdamW, clipping) of a tiny
// model give the same losses and gradient norms as PyTorch from the same checkpoint.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { lmBatch, lmLossStep, maskedNll } from "../../runtime/engine/model/lm-loss.js";
import { AdamWOptimizer } from "../../runtime/engine/model/optimizer.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { testGpu } from "../helpers/gpu.js";
import { ensureTorch, runTorchScript } from "../helpers/torch.js";

describe("training steps against PyTorch", () => {
  beforeAll(() => ensureTorch());

  it("8 AdamW steps on a tiny Llama give torch's losses and gradient norms", async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), "acpo-train-"));
    const config = presetConfig("tiny", 40, 1, [2]);
    const weights = initWeights(config, 21);
    for (const [name, t] of weights) if (!name.endsWith("norm.weight")) for (let i = 0; i < t.data.length; i++) t.data[i]! *= 5;
    saveCheckpoint(dir, { config, weights, tokenizer: null, tokenizerConfig: {}, generationConfig: {} });
    const seqs = [[1, 5, 9, 13, 17, 21, 25, 29, 33, 2], [1, 7, 7, 3, 8, 2], [1, 30, 31, 32, 33, 34, 35, 36]];
    const steps = 8, lr = 3e-3;
    const torch = runTorchScript<{ losses: number[]; grad_norms: number[] }>("test/model/fixtures/hf_torch_reference.py", [
      "--train", dir, String(steps), String(lr), seqs.map((s) => s.join(",")).join(";"),
    ]);
    const gw = new GpuWeights(gpu, config, weights);
    const model = new Transformer(gpu, gw);
    const opt = new AdamWOptimizer(gpu, gw, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1.0 });
    const batch = lmBatch(seqs, seqs.map(() => 0));
    for (let i = 0; i < steps; i++) {
      gw.zeroGrads();
      const { logp, release } = lmLossStep(gpu, model, batch);
      opt.step();
      const loss = maskedNll(await gpu.read(logp), batch.mask);
      const norm = (await gpu.read(opt.lastNorm))[0]!;
      release();
      expect(loss, `step ${i} loss`).toBeCloseTo(torch.losses[i]!, 4);
      expect(Math.abs(norm - torch.grad_norms[i]!) / torch.grad_norms[i]!, `step ${i} grad norm ${norm} vs ${torch.grad_norms[i]}`).toBeLessThan(1e-3);
    }
    expect(torch.losses[steps - 1]!).toBeLessThan(torch.losses[0]! - 0.05); // it did learn something
  });
});
