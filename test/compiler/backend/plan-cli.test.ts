// `acpo compile` and `loadPlan`, `acpo replay` on a hand-made batch, and clear errors for
// bad plans and bad batch files.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BatchError, readBatchFile } from "../../../compiler/plan/batch-file.js";
import { StageRunner } from "../../../compiler/plan/artifact.js";
import { loadPlan, PlanError } from "../../../compiler/plan/plan.js";
import { testGpu } from "../../helpers/gpu.js";

const dir = mkdtempSync(join(tmpdir(), "acpo-plan-"));

function acpo(...args: string[]) {
  const r = spawnSync(process.execPath, ["cli/acpo.js", ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("acpo compile and loadPlan", () => {
  const out = join(dir, "acpo");
  it("writes plan.json, pipeline.acpo and readable kernels that Dawn validates", async () => {
    const r = acpo("compile", "examples/acpo.acpo", "-o", out, "--explain", "--set", "alpha=0.25");
    expect(r.err.replace(/Warning:[^\n]*\n/g, "")).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("param alpha = 0.25");
    expect(r.out).toMatch(/plan for pipeline acpo written to .* \(2 stages, \d+ kernels\)/);
    const json = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
    expect(json.format).toBe("acpo-plan");
    expect(json.compiler).toMatch(/^acpo-compiler /);
    expect(json.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(json.rollout.group).toBe(8);
    expect(json.optimizer.kind).toBe("adamw");
    expect(json.params.find((p: { name: string }) => p.name === "alpha").value).toBe(0.25);
    expect(json.stages.map((s: { name: string }) => s.name)).toEqual(["explore", "converge"]);
    const kernels = readdirSync(join(out, "kernels"));
    expect(kernels).toContain("converge_loss_head.wgsl");
    expect(readFileSync(join(out, "kernels", "converge_loss_head.wgsl"), "utf8")).toMatch(/@group\(0\) @binding\(0\) var<storage, read> logits/);

    const plan = loadPlan(out);
    expect(plan.pipeline.name).toBe("acpo");
    expect(plan.stages.get("explore")!.params.alpha).toBe(0.25);
    // Run-time --set: params are uniforms.
    expect(loadPlan(out, { set: ["alpha=0.5"] }).stages.get("converge")!.params.alpha).toBe(0.5);
    const gpu = await testGpu();
    expect([...plan.stages.keys()]).toEqual(["explore", "converge"]);
    for (const sk of plan.stages.values()) await new StageRunner(gpu, sk).compile();
  });

  it("reports missing, corrupt and edited plans by file", () => {
    expect(() => loadPlan(join(dir, "none"))).toThrow(PlanError);
    expect(() => loadPlan(join(dir, "none"))).toThrow(/plan\.json: no plan here/);
    const bad = join(dir, "bad");
    acpo("compile", "examples/dapo.acpo", "-o", bad);
    const kernel = join(bad, "kernels", "train_loss_head.wgsl");
    writeFileSync(kernel, `${readFileSync(kernel, "utf8")}\n// edited\n`);
    expect(() => loadPlan(bad)).toThrow(/train_loss_head\.wgsl: contents do not match plan\.json/);
    writeFileSync(join(bad, "plan.json"), "{ not json");
    expect(() => loadPlan(bad)).toThrow(/plan\.json: not valid JSON/);
    writeFileSync(join(bad, "plan.json"), JSON.stringify({ format: "acpo-plan", version: 99 }));
    expect(() => loadPlan(bad)).toThrow(/plan version 99/);
  });

  it("a pipeline with errors writes no plan and exits 1", () => {
    const file = join(dir, "broken.acpo");
    writeFileSync(file, 'pipeline b {\n  model "m"\n  advantage = r - mean(r over grop)\n}\n');
    const r = acpo("compile", file, "-o", join(dir, "broken"));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:3:`);
    expect(existsSync(join(dir, "broken", "plan.json"))).toBe(false);
  });
});

describe("acpo replay", () => {
  // DAPO: A = (r - mean) / (std(r, ddof 1) + 1e-6), clip 0.2 / 0.28, token_mean.
  const A = 0.5 / (Math.sqrt(0.5) + 1e-6);
  const batch = {
    V: 4,
    trajectories: [
      { group: 5, reward: 1, tokens: [1, 2], old_logp: [-1, -1], logp: [-1, -1 + Math.log(1.5)], entropy: [0.5, 0.7] },
      { group: 5, reward: 0, tokens: [0], old_logp: [-2], logp: [-2 + Math.log(0.5)], entropy: [1.1] },
    ],
  };
  const file = join(dir, "batch.json");
  writeFileSync(file, JSON.stringify(batch));

  function check(j: any, digits: number) {
    expect(j.pipeline).toBe("dapo");
    expect(j.stage).toBe("train");
    const [s0, s1] = j.sequences;
    expect(s0.group).toBe(5);
    expect(s0.base_advantage).toBeCloseTo(A, digits);
    expect(s1.base_advantage).toBeCloseTo(-A, digits);
    expect(s0.tokens.map((t: any) => t.ratio)).toEqual([expect.closeTo(1, digits), expect.closeTo(1.5, digits)]);
    expect(s0.tokens.map((t: any) => t.clip_high)).toEqual([false, true]);
    expect(s1.tokens[0].clip_low).toBe(true);
    expect(s0.tokens[0].loss).toBeCloseTo(-A / 3, digits);
    expect(s0.tokens[1].loss).toBeCloseTo((-1.28 * A) / 3, digits);
    expect(s1.tokens[0].token_loss).toBeCloseTo(0.8 * A, digits);
    expect(j.loss).toBeCloseTo((-1.48 * A) / 3, digits);
    expect(j.summary.tokens).toBe(3);
    expect(j.summary.clip_high).toBeCloseTo(1 / 3, digits);
    expect(s0.steps).toEqual([{ C: 0 }]);
  }

  it("prints the expected JSON with the interpreter and with the compiled kernels", () => {
    const r = acpo("replay", "examples/dapo.acpo", "--batch", file, "--interpret");
    expect(r.code).toBe(0);
    check(JSON.parse(r.out), 12);
    const g = acpo("replay", "examples/dapo.acpo", "--batch", file);
    expect(g.code, g.err).toBe(0);
    const j = JSON.parse(g.out);
    expect(j.engine).toBe("gpu");
    check(j, 5);
  });

  it("reads samples.jsonl lines as trajectories, with steps and C", () => {
    const jsonl = join(dir, "samples.jsonl");
    const line = (group: number, reward: number) =>
      JSON.stringify({ group, reward, tokens: [1, 2, 3], old_logp: [-1, -1, -1], logp: [-1, -1, -1], entropy: [1, 2, 3], step_starts: [0, 2], C: [0.5, -0.1], step: 3, text: "ignored" });
    writeFileSync(jsonl, `${line(0, 1)}\n${line(0, 0)}\n`);
    const r = acpo("replay", "examples/acpo.acpo", "--batch", jsonl, "--stage", "explore", "--interpret");
    expect(r.err).toBe("");
    const j = JSON.parse(r.out);
    expect(j.sequences[0].steps.length).toBe(2);
    expect(j.sequences[0].steps[0].C).toBe(0.5);
    expect(Object.keys(j.sequences[0].steps[0])).toContain("w");
  });

  it("bad batch files name the file and field, exit 1", () => {
    const cases: [unknown, RegExp][] = [
      [{ trajectories: [{ group: 0, reward: 1, tokens: [1, 2], old_logp: [-1], logp: [-1, -1], entropy: [1, 1] }] }, /trajectories\[0\]\.old_logp: expected 2 numbers \(one per token\), found 1/],
      [{ trajectories: [{ reward: 1, tokens: [1], old_logp: [-1], logp: [-1], entropy: [1] }] }, /trajectories\[0\]\.group: expected a number/],
      [{ trajectories: [{ group: 0, reward: 1, tokens: [1], old_logp: [-1] }] }, /trajectories\[0\]: field 'logp' is required/],
      [{ trajectories: [{ group: 0, reward: 1, tokens: [1, 2], old_logp: [-1, -1], logp: [-1, -1], entropy: [1, 1], step_starts: [0, 0] }] }, /step_starts\[1\]: step starts must begin at 0 and increase/],
      [{ traj: [] }, /field 'trajectories' must be an array/],
    ];
    cases.forEach(([content, msg], i) => {
      const f = join(dir, `bad${i}.json`);
      writeFileSync(f, JSON.stringify(content));
      expect(() => readBatchFile(f)).toThrow(BatchError);
      expect(() => readBatchFile(f)).toThrow(msg);
      expect(() => readBatchFile(f)).toThrow(f);
    });
    // As a user sees it: one line, exit 1, no stack trace.
    const cli = acpo("replay", "examples/dapo.acpo", "--batch", join(dir, "bad0.json"), "--interpret");
    expect(cli.code).toBe(1);
    expect(cli.err).toMatch(/^acpo: error: .*bad0\.json: trajectories\[0\]\.old_logp: expected 2 numbers/);
    expect(cli.err).not.toMatch(/\n\s+at /);
    const r = acpo("replay", "examples/grpo.acpo", "--batch", file, "--interpret");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/stage 'train' compares with a reference policy; every trajectory needs 'ref_logp'/);
  });
});
