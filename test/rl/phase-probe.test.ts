// The step profile's probe (runtime/loop/rl/phase-probe.ts): the trainer ends every phase of
// a step in order, and a probe that waits for the GPU at each changes no result.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { loadPipeline } from "../../compiler/index.js";
import { printPipeline } from "../../compiler/print.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { type PhaseProbe, STEP_PHASES, type StepPhase } from "../../runtime/loop/rl/phase-probe.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import { testGpu } from "../helpers/gpu.js";

function tinyModel(): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-probe-model-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = presetConfig("tiny", 108, 1, [2]);
  saveCheckpoint(dir, { config, weights: initWeights(config, 4), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return dir;
}

/** examples/acpo.acpo with a tiny model and batch, no eval. */
function smallAcpo(model: string): string {
  const r = loadPipeline(resolve("examples/acpo.acpo"));
  if (!r.pipeline) throw new Error("examples/acpo.acpo does not check");
  const text = printPipeline(r.pipeline)
    .replace(/model "[^"]*"/, `model "${model}"`)
    .replace(/rollout \{[^}]*\}/, "rollout { prompts 2  group 4  temperature 1.0  top_p 1.0  max_tokens 24 }")
    .replace(/\n\s*eval \{[^}]*\}/g, "\n");
  const file = join(mkdtempSync(join(tmpdir(), "acpo-probe-")), "acpo_small.acpo");
  writeFileSync(file, text);
  return file;
}

/** Metrics lines without the wall-clock fields (the probe's waits change those only). */
function metricsOf(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => {
    const m = JSON.parse(l) as Record<string, unknown>;
    for (const k of Object.keys(m)) if (k.startsWith("time_") || k.endsWith("_per_s")) delete m[k];
    return m;
  });
}

describe("the step profile's probe", () => {
  it("sees every phase of every step in order, and changes no metric", async () => {
    const gpu = await testGpu();
    const file = smallAcpo(tinyModel());
    const seen: StepPhase[] = [];
    const probe: PhaseProbe = { at: async (phase) => { seen.push(phase); await gpu.sync(); } };
    const run = (p?: PhaseProbe) => train({ pipelinePath: file, steps: 2, seed: 3, outDir: join(mkdtempSync(join(tmpdir(), "acpo-probe-run-")), "run"), quiet: true, gpu, probe: p });
    const probed = await run(probe);
    const plain = await run();
    expect(seen).toEqual([...STEP_PHASES, ...STEP_PHASES]);
    expect(metricsOf(probed.runDir)).toEqual(metricsOf(plain.runDir));
  }, 120_000);
});
