// The plan folder is the compiled artifact: plan.json holds the resolved pipeline and each
// stage's `until` / `priority` programs next to its kernels, so a folder without
// pipeline.acpo (or the source) loads into what `acpo train` compiles in memory.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatAll, loadPipeline, pipelineJson, printPipeline, type Pipeline } from "../../../compiler/index.js";
import { compileArtifact, evaluateProgram, lowerStagePrograms } from "../../../compiler/plan/artifact.js";
import { loadPlan, PlanError, writePlan } from "../../../compiler/plan/plan.js";
import { kernelSource } from "../../../runtime/engine/kernel.js";

function load(path: string, text?: string): Pipeline {
  const r = loadPipeline(path, { text });
  if (!r.pipeline) throw new Error(formatAll(r));
  return r.pipeline;
}

/** examples/acpo.acpo with its second stage sampling by curriculum. */
function curriculumAcpo(): Pipeline {
  const file = resolve("examples/acpo.acpo");
  const text = readFileSync(file, "utf8").replace("stage converge until steps >= 33 {", "stage converge until steps >= 33 {\n    sample curriculum { priority 1 - accuracy }");
  const p = load(file, text);
  expect(p.stages[1]!.sampling.kind).toBe("curriculum");
  return p;
}

describe("the plan folder as the compiled artifact", () => {
  it("loads without pipeline.acpo into the artifact acpo train compiles in memory", () => {
    const p = curriculumAcpo();
    const dir = join(mkdtempSync(join(tmpdir(), "acpo-artifact-")), "plan");
    writePlan(dir, p);
    rmSync(join(dir, "pipeline.acpo"));
    const plan = loadPlan(dir);
    const mem = compileArtifact(p);
    // plan.json records settings exactly as a run's config.resolved.json does (pipelineJson).
    const pj = pipelineJson(p);
    for (const k of ["model", "task", "rollout", "optimizer", "loss", "params"] as const) expect(plan.json[k], k).toEqual(pj[k]);
    // The same pipeline, read from plan.json (only the "# resolved from" header names another file).
    const body = (q: Pipeline) => printPipeline(q).replace(/^# resolved from .*\n/, "");
    expect(body(plan.pipeline)).toBe(body(p));
    expect([...plan.programs.keys()]).toEqual(["explore", "converge"]);
    for (const [name, progs] of mem.programs) expect(plan.programs.get(name)).toEqual(progs);
    expect(plan.programs.get("explore")!.priority).toBeNull();
    expect(plan.programs.get("converge")!.priority!.nodes.length).toBeGreaterThan(0);
    for (const [name, sk] of mem.stages) expect(plan.stages.get(name)!.kernels.map((k) => kernelSource(k.kernel))).toEqual(sk.kernels.map((k) => kernelSource(k.kernel)));
    // Run-time --set still reaches kernels (uniforms) and programs (their params) without the file.
    const set = loadPlan(dir, { set: ["alpha=0.5"] });
    expect(set.pipeline.params.find((q) => q.name === "alpha")!.value).toBe(0.5);
    expect(set.stages.get("converge")!.params.alpha).toBe(0.5);
  });

  it("refuses a plan whose stored until program does not match its pipeline, naming the stage", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "acpo-artifact-")), "plan");
    writePlan(dir, load(resolve("examples/grpo.acpo")));
    const planFile = join(dir, "plan.json");
    const json = JSON.parse(readFileSync(planFile, "utf8"));
    json.stages[0].until.root = 0;
    writeFileSync(planFile, JSON.stringify(json));
    expect(() => loadPlan(dir)).toThrow(PlanError);
    expect(() => loadPlan(dir)).toThrow(/plan\.json: stages\[0\]: the until \/ priority programs of stage 'train' do not match the resolved pipeline/);
    delete json.stages[0].until;
    writeFileSync(planFile, JSON.stringify(json));
    expect(() => loadPlan(dir)).toThrow(/plan\.json: stages\[0\]: missing the 'until' program/);
    delete json.resolved;
    writeFileSync(planFile, JSON.stringify(json));
    expect(() => loadPlan(dir)).toThrow(/plan\.json: field 'resolved' \(the resolved pipeline\) is missing; recompile the pipeline/);
  });

  it("evaluates a stored until program to the stage's step condition", () => {
    const p = load(resolve("examples/grpo.acpo"));
    const until = lowerStagePrograms(p, p.stages[0]!).until;
    const bound = Number(/until steps >= (\d+)/.exec(printPipeline(p))![1]);
    const batch = (steps: number) => ({
      B: 1, T: 1, S: 1, nGroups: 1, group: new Int32Array(1), reward: new Float64Array(1), correct: new Float64Array(1), format: new Float64Array(1), length: new Float64Array([1]),
      stepIdx: new Int32Array(1), ids: new Int32Array(1), oldLogp: new Float64Array(1), refLogp: null, C: new Float64Array(1), stepLength: new Float64Array([1]),
      stepEntropy: new Float64Array(1), V: 0, temperature: 1, logits: null, logp: new Float64Array(1), H: new Float64Array(1), steps, totalSteps: steps, seed: 0,
    });
    const env = { params: {}, logp: new Float64Array(1), H: new Float64Array(1) };
    expect(evaluateProgram(until, batch(bound - 1), env)[0]).toBe(0);
    expect(evaluateProgram(until, batch(bound), env)[0]).toBe(1);
  });

  it("acpo run trains from a plan folder whose pipeline.acpo and source are gone", () => {
    const base = mkdtempSync(join(tmpdir(), "acpo-artifact-run-"));
    // examples/grpo.acpo made small: two prompts of four responses, a three-problem eval.
    const source = join(base, "small.acpo");
    writeFileSync(source, readFileSync(resolve("examples/grpo.acpo"), "utf8")
      .replace('model "../models/countdown-slips"', `model "${resolve("models/countdown-tiny")}"`)
      .replace(/rollout \s*\{[^}]*\}/, "rollout { prompts 2  group 4  temperature 1.0  max_tokens 16 }")
      .replace(/eval \{[^}]*\}/, "eval { every 100  problems 3  samples 2  max_tokens 16  metrics [acc@2] }"));
    const plan = join(base, "plan");
    const acpo = (...args: string[]) => spawnSync(process.execPath, ["cli/acpo.js", ...args], { encoding: "utf8" });
    expect(acpo("compile", source, "-o", plan).status).toBe(0);
    rmSync(join(plan, "pipeline.acpo"));
    rmSync(source);
    const out = join(base, "run");
    const r = acpo("run", plan, "--steps", "1", "--out", out, "--quiet");
    expect(r.stderr.replace(/Warning:[^\n]*\n/g, "")).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`run ${out}: 1 steps`);
    const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; stage: string });
    expect(metrics.map((m) => [m.step, m.stage])).toEqual([[1, "train"]]);
    expect(existsSync(join(out, "checkpoint-1"))).toBe(true);
  }, 300_000);
});
