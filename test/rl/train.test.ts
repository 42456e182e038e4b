// The training loop end to end on a tiny random policy: every example pipeline runs a few
// steps and leaves a complete run directory; stages switch and freeze their reference; a
// run killed with SIGKILL and resumed gives the same metrics as an uninterrupted one.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CHAR_TOKENIZER_WORDS } from "../../cli/commands/init-model.js";
import { loadPipeline } from "../../compiler/index.js";
import { readBatchFile } from "../../compiler/plan/batch-file.js";
import { loadPlan, writePlan } from "../../compiler/plan/plan.js";
import { printPipeline } from "../../compiler/print.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import { testGpu } from "../helpers/gpu.js";

const EXAMPLES = ["acpo", "grpo", "dapo", "dr_grpo", "gspo", "entropy_top20", "clip_cov", "acpo_no_kl", "acpo_newline"];

function tinyModel(): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-rl-model-"));
  const files = charTokenizerFiles(CHAR_TOKENIZER_WORDS);
  const config = presetConfig("tiny", 108, 1, [2]);
  const weights = initWeights(config, 4);
  for (const [name, t] of weights) if (!name.endsWith("norm.weight")) for (let i = 0; i < t.data.length; i++) t.data[i]! *= 8;
  saveCheckpoint(dir, { config, weights, tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
  return dir;
}

/**
 * A small variant of an example: its resolved pipeline printed back (compiler/print.ts), with
 * this model, tiny rollouts, every stage ending after `stageSteps` steps, and a tiny eval.
 */
function variant(example: string, model: string, stageSteps: number): { file: string; stages: string[] } {
  const r = loadPipeline(resolve("examples", `${example}.acpo`));
  if (!r.pipeline) throw new Error(`examples/${example}.acpo does not check`);
  const text = printPipeline(r.pipeline)
    .replace(/model "[^"]*"/, `model "${model}"`)
    .replace(/task countdown \{[^}]*\}/, "task countdown { numbers 3..3  values 1..9  target 1..30 }")
    .replace(/rollout \{[^}]*\}/, "rollout { prompts 2  group 4  temperature 1.0  top_p 1.0  max_tokens 24 }")
    .replace(/until steps >= \d+/g, `until steps >= ${stageSteps}`)
    .replace(/eval \{[^}]*\}/g, "eval { every 100  split test  problems 3  samples 2  temperature 1.0  max_tokens 24  metrics [acc@2, pass@2] }");
  const file = join(mkdtempSync(join(tmpdir(), "acpo-rl-")), `${example}_small.acpo`);
  writeFileSync(file, text);
  return { file, stages: r.pipeline.stages.map((s) => s.name) };
}

const jsonl = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

describe("the training loop", () => {
  const model = tinyModel();

  it.each(EXAMPLES)("runs examples/%s.acpo for a few steps and leaves a complete run directory", async (example) => {
    const gpu = await testGpu();
    const out = join(mkdtempSync(join(tmpdir(), "acpo-run-")), "run");
    // Dynamic sampling needs groups with a learning signal, which a random policy never has
    // (an attempt that keeps no group is not a step, and five stop the run): the embedded policy.
    const dynamic = /sample dynamic/.test(readFileSync(resolve("examples", `${example}.acpo`), "utf8"));
    const { file, stages } = variant(example, dynamic ? resolve("models/countdown-tiny") : model, 2);
    if (dynamic) writeFileSync(file, readFileSync(file, "utf8").replace("max_tokens 24 }", "max_tokens 64 }"));
    // Each stage ends after 2 steps, so a one-stage pipeline ends by itself at step 2 and a
    // two-stage one is stopped by --steps in its second stage.
    const steps = Math.min(3, 2 * stages.length);
    const r = await train({ pipelinePath: file, steps: 3, outDir: out, quiet: true, gpu, checkpointEvery: 2 });
    expect(r.steps).toBe(steps);
    const metrics = jsonl(join(out, "metrics.jsonl"));
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    for (const m of metrics) {
      // Rollout statistics cover every response generated, also under dynamic sampling.
      expect(m.response_length_mean as number).toBeGreaterThan(0);
      expect(m.time_step_s as number).toBeGreaterThan(0);
    }
    // Stages switch after their `until`: two-stage pipelines are in their second stage at step 3.
    if (stages.length > 1) expect(metrics.map((m) => m.stage)).toEqual([stages[0], stages[0], stages[1]]);
    expect(jsonl(join(out, "eval.jsonl")).at(-1)!.step).toBe(steps);
    // samples.jsonl is readable by acpo replay's parser (dynamic sampling may keep no group of a random policy).
    const samples = join(out, "samples.jsonl");
    if (metrics.some((m) => m.loss !== null)) expect(readBatchFile(samples).lengths.length).toBeGreaterThan(0);
    const cks = readdirSync(out).filter((f) => f.startsWith("checkpoint-"));
    expect(cks.sort()).toEqual(steps === 3 ? ["checkpoint-2", "checkpoint-3"] : ["checkpoint-2"]);
    // A stage that compares against another stage's policy has that reference in its checkpoint.
    if (/reference explore/.test(readFileSync(resolve("examples", `${example}.acpo`), "utf8"))) {
      expect(existsSync(join(out, `checkpoint-${steps}`, "references", "explore", "model.safetensors"))).toBe(true);
    }
  });

  it("resumes a run killed with SIGKILL and ends with the same metrics as an uninterrupted run", async () => {
    const { file } = variant("grpo", model, 5);
    const base = mkdtempSync(join(tmpdir(), "acpo-resume-"));
    const cli = (args: string[]) => spawn(process.execPath, ["cli/acpo.js", "train", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    const done = (p: ReturnType<typeof cli>) => new Promise<number | null>((res) => p.on("exit", (code) => res(code)));
    const whole = join(base, "whole"), killed = join(base, "killed");
    expect(await done(cli([file, "--steps", "5", "--checkpoint-every", "2", "--out", whole, "--quiet"]))).toBe(0);
    // Kill the second run once step 3 is in its metrics (after the step-2 checkpoint).
    const p = cli([file, "--steps", "5", "--checkpoint-every", "2", "--out", killed, "--quiet"]);
    const metricsFile = join(killed, "metrics.jsonl");
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        if (existsSync(metricsFile) && readFileSync(metricsFile, "utf8").trim().split("\n").length >= 3) {
          clearInterval(poll);
          p.kill("SIGKILL");
          res();
        }
      }, 50);
    });
    await done(p);
    expect(await done(cli(["--resume", killed, "--quiet"]))).toBe(0);
    const strip = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("time_") && k !== "tokens_per_s"));
    expect(jsonl(metricsFile).map(strip)).toEqual(jsonl(join(whole, "metrics.jsonl")).map(strip));
    expect(readFileSync(join(killed, "samples.jsonl"), "utf8")).toEqual(readFileSync(join(whole, "samples.jsonl"), "utf8"));
  }, 900_000); // three CLI processes; each compiles its shaders on a fresh machine

  it("resumes from the run's own directory (its seed, steps, --set and stored pipeline, the file gone) and starts over a run without a checkpoint", async () => {
    const gpu = await testGpu();
    const { file } = variant("grpo", model, 5);
    const base = mkdtempSync(join(tmpdir(), "acpo-own-"));
    const whole = join(base, "whole"), cut = join(base, "cut");
    const args = { pipelinePath: file, steps: 3, seed: 11, set: ["beta=0.5"], checkpointEvery: 2, quiet: true, gpu };
    await train({ ...args, outDir: whole });
    await train({ ...args, outDir: cut });
    const strip = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("time_") && k !== "tokens_per_s"));
    const same = () => {
      expect(jsonl(join(cut, "metrics.jsonl")).map(strip)).toEqual(jsonl(join(whole, "metrics.jsonl")).map(strip));
      // The evaluation is seeded by the run's seed: a resume that forgot --seed 11 would differ here.
      expect(readFileSync(join(cut, "eval.jsonl"), "utf8")).toBe(readFileSync(join(whole, "eval.jsonl"), "utf8"));
      expect(readFileSync(join(cut, "samples.jsonl"), "utf8")).toBe(readFileSync(join(whole, "samples.jsonl"), "utf8"));
    };
    // As if killed during step 3: back to the step-2 checkpoint; and the pipeline file is gone.
    rmSync(join(cut, "checkpoint-3"), { recursive: true });
    rmSync(file);
    const r = await train({ resume: cut, quiet: true, gpu });
    expect([r.steps, r.interrupted]).toEqual([3, false]);
    same();
    await expect(train({ resume: cut, seed: 12, quiet: true, gpu })).rejects.toThrow(`cannot resume ${cut} with these arguments:\n  --seed 12: the run's seed is 11\n`);
    // As if killed before its first checkpoint: --resume starts it over with its stored configuration.
    for (const c of readdirSync(cut).filter((f) => f.startsWith("checkpoint-"))) rmSync(join(cut, c), { recursive: true });
    const again = await train({ resume: cut, quiet: true, gpu });
    expect(again.steps).toBe(3);
    same();
  }, 900_000);

  it("stops on Ctrl-C after saving a checkpoint and exits 130", async () => {
    const { file } = variant("grpo", model, 50);
    const out = join(mkdtempSync(join(tmpdir(), "acpo-sigint-")), "run");
    const p = spawn(process.execPath, ["cli/acpo.js", "train", file, "--steps", "50", "--checkpoint-every", "25", "--out", out], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<number | null>((res) => p.on("exit", (code) => res(code)));
    const metricsFile = join(out, "metrics.jsonl");
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        if (existsSync(metricsFile) && readFileSync(metricsFile, "utf8").includes("\n")) {
          clearInterval(poll);
          p.kill("SIGINT");
          res();
        }
      }, 50);
    });
    expect(await exit).toBe(130);
    const n = jsonl(metricsFile).length;
    expect(n).toBeLessThan(50);
    expect(readFileSync(join(out, "latest"), "utf8")).toBe(`checkpoint-${n}\n`);
    expect(stderr).toContain(`acpo: stopped at step ${n}; continue with: npx acpo train --resume ${out}`);
    expect(existsSync(join(out, "lock"))).toBe(false);
  }, 900_000);

  it("skips non-finite updates, counts them, and stops with a clear message after several in a row", async () => {
    const gpu = await testGpu();
    const { file } = variant("grpo", model, 20);
    // An advantage that is NaN for every response: every update must be skipped.
    writeFileSync(file, readFileSync(file, "utf8").replace(/advantage = [^\n]*/, "advantage = sqrt(0 - 1 - r)"));
    const out = join(mkdtempSync(join(tmpdir(), "acpo-nan-")), "run");
    await expect(train({ pipelinePath: file, steps: 20, outDir: out, quiet: true, gpu })).rejects.toThrow(/5 updates in a row had a non-finite loss or gradient norm \(step 5\).*Lower the learning rate/s);
    const metrics = jsonl(join(out, "metrics.jsonl"));
    expect(metrics.map((m) => m.skipped_updates)).toEqual([1, 2, 3, 4, 5]);
    expect(existsSync(join(out, "checkpoint-5"))).toBe(true); // the state at the stop is kept
  });

  it("trains from a compiled plan (acpo compile, then acpo run) exactly as from the source", async () => {
    const gpu = await testGpu();
    const { file } = variant("grpo", model, 2);
    const planDir = join(mkdtempSync(join(tmpdir(), "acpo-plan-")), "plan");
    writePlan(planDir, loadPipeline(file).pipeline!);
    const fromPlan = join(mkdtempSync(join(tmpdir(), "acpo-run-")), "run");
    const fromSource = join(mkdtempSync(join(tmpdir(), "acpo-run-")), "run");
    await train({ pipelinePath: file, outDir: fromSource, quiet: true, gpu });
    // The plan is the artifact: neither its readable pipeline.acpo nor the source is needed.
    rmSync(join(planDir, "pipeline.acpo"));
    rmSync(file);
    await train({ plan: loadPlan(planDir), outDir: fromPlan, quiet: true, gpu });
    const strip = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("time_") && k !== "tokens_per_s"));
    expect(jsonl(join(fromPlan, "metrics.jsonl")).map(strip)).toEqual(jsonl(join(fromSource, "metrics.jsonl")).map(strip));
  });

  it("samples prompts by curriculum priority and keeps the priorities in its checkpoint", async () => {
    const gpu = await testGpu();
    const { file } = variant("grpo", model, 3);
    writeFileSync(file, readFileSync(file, "utf8").replace("sample all", "sample curriculum { priority 1 - accuracy }"));
    const out = join(mkdtempSync(join(tmpdir(), "acpo-cur-")), "run");
    const r = await train({ pipelinePath: file, outDir: out, quiet: true, gpu, checkpointEvery: 3 });
    expect(r.steps).toBe(3);
    const state = JSON.parse(readFileSync(join(out, "checkpoint-3", "trainer_state.json"), "utf8")) as { sampler: { priorities?: Record<string, number> } };
    const pri = Object.values(state.sampler.priorities ?? {});
    expect(pri.length).toBeGreaterThanOrEqual(2); // one per prompt seen (2 prompts per step)
    for (const v of pri) expect(v).toBeGreaterThanOrEqual(0);
  });
});
