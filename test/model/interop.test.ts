// Checkpoints written by another implementation (PyTorch, following HF's modeling code)
// load here and the plain-TypeScript reference model gives the same log-probabilities.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, it } from "vitest";
import { loadCheckpoint, saveCheckpoint } from "../../runtime/model/checkpoint.js";
import { initWeights, presetConfig } from "../../runtime/model/presets.js";
import { referenceLogprobs } from "../../runtime/model/reference.js";
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
  ])("%s stored as %s loads and matches torch's log-probabilities", (arch, dtype) => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-hf-"));
    const torch = runTorchScript<{ logprobs: number[]; entropies: number[] }>(SCRIPT, [dir, arch, "11", dtype, IDS.join(",")]);
    const ck = loadCheckpoint(dir);
    const ours = referenceLogprobs(ck.config, ck.weights, IDS);
    // torch computes in fp32, the reference in float64: agreement to fp32 rounding of ~10 layers of sums.
    expectClose(ours.logprobs, torch.logprobs, 2e-4, 1e-4, "logprobs");
    expectClose(ours.entropies, torch.entropies, 2e-4, 1e-4, "entropies");
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
