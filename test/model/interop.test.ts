// Checkpoints written by another implementation (PyTorch, following HF's modeling code)
// load here and the plain-TypeScript reference model gives the same log-probabilities; for
// Qwen3 (q_norm/k_norm) and Llama 3 rope scaling the GPU model is compared with torch too.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint, saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { referenceLogprobs } from "../../runtime/engine/model/reference.js";
import { headRowStats, LmHeadStream } from "../../runtime/engine/model/lm-head.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { testGpu } from "../helpers/gpu.js";
import { ensureTorch, runTorchScript } from "../helpers/torch.js";
import { expectClose } from "../helpers/numeric.js";

const SCRIPT = "test/model/fixtures/hf_torch_reference.py";
const IDS = [1, 5, 9, 22, 40, 7, 3, 3, 51, 0, 17];

describe("checkpoints written by PyTorch", () => {
  beforeAll(() => ensureTorch());

  it.each([
    ["LlamaForCausalLM", "F32"],
    ["Qwen2ForCausalLM", "F32"],
    ["LlamaForCausalLM", "BF16"],
    ["Qwen2ForCausalLM", "BF16"],
    ["Qwen3ForCausalLM", "F32"],
    ["LlamaForCausalLM+llama3", "F32"],
  ])("%s stored as %s loads and matches torch's log-probabilities", (arch, dtype) => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-hf-"));
    const torch = runTorchScript<{ logprobs: number[]; entropies: number[] }>(SCRIPT, [dir, arch, "11", dtype, IDS.join(",")]);
    const ck = loadCheckpoint(dir);
    const ours = referenceLogprobs(ck.config, ck.weights, IDS);
    // torch computes in fp32, the reference in float64: agreement to fp32 rounding of ~10 layers of sums.
    expectClose(ours.logprobs, torch.logprobs, 2e-4, 1e-4, "logprobs");
    expectClose(ours.entropies, torch.entropies, 2e-4, 1e-4, "entropies");
  });

  it.each(["Qwen3ForCausalLM", "LlamaForCausalLM+llama3"])("%s: the GPU model's log-probabilities and entropies match torch's", async (arch) => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-hf-"));
    const torch = runTorchScript<{ logprobs: number[]; entropies: number[] }>(SCRIPT, [dir, arch, "13", "F32", IDS.join(",")]);
    const ck = loadCheckpoint(dir);
    const gpu = await testGpu();
    const model = new Transformer(gpu, new GpuWeights(gpu, ck.config, ck.weights));
    const T = IDS.length, N = T - 1;
    const hidden = model.forwardHidden(gpu.upload(Uint32Array.from(IDS.slice(0, N))), gpu.upload(Uint32Array.from({ length: N }, (_, i) => i)), 1, N);
    const logp = gpu.empty([N]), H = gpu.empty([N]);
    const head = new LmHeadStream(gpu, model, N);
    headRowStats(gpu, head, hidden, gpu.upload(Uint32Array.from(IDS.slice(1))), { logp, H });
    head.release();
    expectClose(await gpu.read(logp), torch.logprobs, 2e-4, 1e-4, "logprobs");
    expectClose(await gpu.read(H), torch.entropies, 2e-4, 1e-4, "entropies");
    // The architecture's extra is not a no-op here: without it the numbers move.
    const plain = { ...ck.config, qkNorm: false, ropeScaling: null };
    const w = new Map(ck.weights);
    for (const k of [...w.keys()]) if (k.includes("_norm.weight") && k.includes("self_attn")) w.delete(k);
    const off = referenceLogprobs(plain, w, IDS).logprobs;
    expect(Math.max(...off.map((x, i) => Math.abs(x - torch.logprobs[i]!)))).toBeGreaterThan(1e-2);
    model.release();
  });

  it("a folder acpo writes loads in the PyTorch implementation with the same log-probabilities", () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-out-"));
    const config = presetConfig("tiny", 60, 1, [2]);
    const weights = initWeights(config, 5);
    for (const t of weights.values()) for (let i = 0; i < t.data.length; i++) t.data[i]! *= 20; // sharper than init, so logprobs differ per token
    saveCheckpoint(dir, { config, weights, tokenizer: null, tokenizerConfig: {}, generationConfig: {} });
    const torch = runTorchScript<{ logprobs: number[]; entropies: number[] }>(SCRIPT, ["--score", dir, IDS.join(",")]);
    const ours = referenceLogprobs(config, weights, IDS);
    expectClose(ours.logprobs, torch.logprobs, 2e-4, 1e-4, "logprobs");
    expectClose(ours.entropies, torch.entropies, 2e-4, 1e-4, "entropies");
  });
});
