// `acpo export verl`: every example exports or is refused with its reasons; an exported
// package's adapters, called the way verl calls the registered estimator and policy loss,
// agree with the float64 interpreter on the same batch (advantage, loss, autograd
// gradient, global normalisation), with verl absent; its registration module needs verl.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { interpretStage } from "../../compiler/interpret/stage.js";
import { ExportRefused, planExport, verlPrograms, writeExport } from "../../export/verl/index.js";
import { randomBatch } from "../compiler/backend/random-batch.js";
import { expectClose } from "../helpers/numeric.js";
import { ensureTorch, runTorchScript } from "../helpers/torch.js";

const RUNNER = fileURLToPath(new URL("./verl_runner.py", import.meta.url));
const examples = readdirSync("examples").filter((f) => f.endsWith(".acpo")).sort();

/** The first line of each refusal reason, per example (null: exported). */
function outcome(file: string): string[] | null {
  try {
    planExport(loadPipeline(`examples/${file}`).pipeline!);
    return null;
  } catch (e) {
    if (!(e instanceof ExportRefused)) throw e;
    return e.reasons;
  }
}

describe("acpo export verl", () => {
  it("exports every example verl can run as written and refuses the rest with reasons", () => {
    const got = Object.fromEntries(examples.map((f) => [f, outcome(f)]));
    // Two stages with their own losses and a reference frozen at the switch (acpo, acpo_newline, math_qwen) export.
    const exported = ["acpo.acpo", "acpo_newline.acpo", "acpo_no_kl.acpo", "cispo.acpo", "dr_grpo.acpo", "gmpo.acpo", "grpo.acpo", "gspo.acpo", "math_qwen.acpo", "sapo.acpo"];
    expect(Object.keys(got).filter((f) => got[f] === null)).toEqual(exported);
    // Every other example is refused, each with its reasons (an example added later must be placed here).
    expect(Object.fromEntries(Object.entries(got).filter(([, r]) => r !== null))).toEqual({
      "acpo_mc.acpo": [
        "the advantage reads `mc_next`: Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample",
        "the advantage reads `mc_value`: Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample",
      ],
      "clip_cov.acpo": [
        "stage train's token weight or mask reads `r`: rewards, which verl's policy loss does not receive",
        "stage train's token weight or mask uses group-level values, which a verl micro-batch does not hold whole",
      ],
      "dapo.acpo": ["stage train (examples/dapo.acpo:13:21): `sample dynamic` has no counterpart among verl's trainer settings (DAPO's group filter lives in a verl recipe); remove it to export"],
      "entropy_top20.acpo": [
        "stage train (examples/entropy_top20.acpo:17:21): `sample dynamic` has no counterpart among verl's trainer settings (DAPO's group filter lives in a verl recipe); remove it to export",
        "stage train's token weight or mask reads `H`: per-token entropy, which verl's actor workers do not pass to the policy loss (the ACPO trainer subclass brings it to the advantage only)",
      ],
      "multi_reward.acpo": [
        "the advantage reads `correct`: the verifier's accept bit, which verl's reward manager does not pass on (only the reward)",
        "the advantage reads `format`: the verifier's format check, which verl's reward manager does not pass on (only the reward)",
      ],
      "prm_judge.acpo": ["the advantage reads `judge_score`: a judge model's verdict scores per step, which neither verl's reward manager nor the ACPO trainer subclass computes (they need the judge model run on every step prefix)"],
      "prm_steps.acpo": ["the advantage reads `step_reward`: the task's step checker's per-step rewards, which neither verl's reward manager nor the ACPO trainer subclass computes"],
      "reinforce_pp.acpo": [
        "the advantage reads `old_logp`: rollout log-probs, which verl's advantage estimator does not receive",
        "the advantage reads `ref_logp`: reference log-probs, which verl's policy loss does not receive",
      ],
      "vineppo.acpo": [
        "the advantage reads `mc_next`: Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample",
        "the advantage reads `mc_value`: Monte-Carlo step values, which need extra rollouts from step prefixes that verl's trainer does not sample",
      ],
    });
  });

  it("maps the KL term, aggregation and settings to verl's keys", () => {
    const plan = planExport(loadPipeline("examples/grpo.acpo").pipeline!);
    const dir = mkdtempSync(join(tmpdir(), "acpo-verl-"));
    const files = writeExport(plan, dir);
    expect(files).toEqual([
      "README.md", "acpo_grpo/__init__.py", "acpo_grpo/acpo_ir.py", "acpo_grpo/acpo_step.py", "acpo_grpo/adapters.py", "acpo_grpo/attribution.py", "acpo_grpo/jsstr.py",
      "acpo_grpo/math_verify.py", "acpo_grpo/numerics.py", "acpo_grpo/reward.py", "acpo_grpo/schedule.py", "acpo_grpo/segment.py", "acpo_grpo/trainer.py", "acpo_grpo/verifiers.py",
      "acpo_grpo/verl_plugin.py", "config/acpo_grpo.yaml", "pyproject.toml",
    ]);
    const yaml = readFileSync(join(dir, "config/acpo_grpo.yaml"), "utf8");
    expect(yaml).not.toContain("trainer_mode");
    for (const line of ["  adv_estimator: acpo_grpo", "      loss_mode: acpo_grpo", "    loss_agg_mode: seq-mean-token-mean", "    use_kl_loss: true", "    kl_loss_coef: 0.04", "    kl_loss_type: low_var_kl", "    n: 8", "  total_training_steps: 200"]) {
      expect(yaml.split("\n").some((l) => l.startsWith(line)), line).toBe(true);
    }
    expect(readFileSync(join(dir, "pyproject.toml"), "utf8")).toContain('[project.entry-points."verl.plugins"]\nacpo_grpo = "acpo_grpo.verl_plugin"');
    const dr = readFileSync(join(writeDir("examples/dr_grpo.acpo"), "config/acpo_dr_grpo.yaml"), "utf8");
    expect(dr).toContain("    loss_agg_mode: seq-mean-token-sum-norm\n    loss_scale_factor: 96");
  });

  it("a pipeline with segmentation and attribution selects the ACPO trainer; stages sharing one loss run as one budget", () => {
    const plan = planExport(loadPipeline("examples/acpo_no_kl.acpo").pipeline!);
    expect(plan.usesTrainer).toBe(true);
    expect(plan.staged).toBe(false);
    expect(plan.steps).toBe(200);
    const dir = mkdtempSync(join(tmpdir(), "acpo-verl-"));
    writeExport(plan, dir);
    const yaml = readFileSync(join(dir, "config/acpo_acpo_no_kl.yaml"), "utf8");
    expect(yaml).toContain("  use_v1: true\n  v1:\n    trainer_mode: acpo_acpo_no_kl ");
    expect(yaml).toContain("  total_training_steps: 200      # stage explore: 167 steps, stage converge: 33 steps");
    expect(yaml).toContain("    use_kl_loss: false\n");
    const numerics = readFileSync(join(dir, "acpo_acpo_no_kl/numerics.py"), "utf8");
    expect(numerics).toContain('USES_TRAINER = True\nSEGMENT = {"kind": "entropy", "candidates": {"by": "top", "fraction": 0.05}, "markers": ["First", "Then", "Next", "So", "Thus", "Therefore", "However", "Wait", "Finally"], "min_gap": 6.0, "align": "sentence"}\nATTRIBUTION = {"measure": "loglik", "judge": "policy"}\n');
  });

  it("adapters agree with the interpreter, without verl, on the exported examples", () => {
    ensureTorch();
    const files = ["grpo.acpo", "dr_grpo.acpo", "gspo.acpo", "cispo.acpo", "gmpo.acpo", "sapo.acpo"];
    const b = randomBatch({ groups: 3, perGroup: 4, T: 9, V: 4, S: 1, logits: false }, 17);
    const N = b.B * b.T;
    const mask = Array.from(b.stepIdx, (s) => (s >= 0 ? 1 : 0));
    // verl's rewards are token-level; the sequence reward is their sum.
    const rewards = new Array<number>(N).fill(0);
    for (let i = 0; i < b.B; i++) rewards[i * b.T + b.stepIdx.slice(i * b.T).findIndex((s) => s >= 0)] = b.reward[i]!;
    const tokens = mask.reduce<number>((a, v) => a + v, 0);
    const global = { dp_size: 2, batch_num_tokens: 3 * tokens, global_batch_size: 3 * b.B };
    const cases = files.map((file) => {
      const p = loadPipeline(`examples/${file}`).pipeline!;
      const { adv, loss } = verlPrograms(p);
      const refAdv = interpretStage(adv, b).tokens.advantage;
      const common = { B: b.B, L: b.T, rewards, mask, index: Array.from(b.group, (g) => `uid-${g}`), old: Array.from(b.oldLogp), logp: Array.from(b.logp!), advantages: Array.from(refAdv) };
      return { file, p, refAdv, refLoss: interpretStage(loss, b), spec: { dir: writeDir(`examples/${file}`), pkg: `acpo_${p.name}`, jobs: [{ ...common, info: {} }, { ...common, info: global }] } };
    });
    // One Python process for every package (distinct names): torch imports once.
    const jobFile = join(cases[0]!.spec.dir, "jobs.json");
    writeFileSync(jobFile, JSON.stringify({ packages: cases.map((c) => c.spec) }));
    const outs = runTorchScript<{ verl_importable: boolean; plugin_error: string | null; results: { advantage: number[]; same_returns: boolean; loss: number; grad: number[]; metrics: Record<string, number> }[] }[]>(RUNNER, [jobFile]);
    cases.forEach(({ file, p, refAdv, refLoss }, k) => {
      const out = outs[k]!;
      expect(out.verl_importable).toBe(false);
      expect(out.plugin_error).toBe("No module named 'verl'");
      const scale = (p.loss.aggregate === "token_mean" ? tokens / global.batch_num_tokens : b.B / global.global_batch_size) * 2;
      out.results.forEach((r, j) => {
        const s = j === 0 ? 1 : scale;
        expectClose(r.advantage, refAdv, 1e-6, 1e-6, `${file}: advantage`);
        expect(r.same_returns).toBe(true);
        expectClose([r.loss], [refLoss.loss * s], 1e-6, 1e-5, `${file}: loss (job ${j})`);
        expectClose(r.grad, Array.from(refLoss.tokens.dlogp).map((g) => g * s), 1e-6, 1e-4, `${file}: d loss / d log_prob (job ${j})`);
        expectClose([r.metrics["actor/pg_clipfrac"]!], [refLoss.summary.clip_high], 1e-6, 1e-6, `${file}: clip fraction`);
      });
    });
  });

  it("the CLI refuses with the reasons, writes nothing, and exits non-zero", () => {
    const out = join(mkdtempSync(join(tmpdir(), "acpo-verl-")), "pkg");
    const r = spawnSync(process.execPath, ["cli/acpo.js", "export", "verl", "examples/dapo.acpo", "-o", out], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("acpo: error: examples/dapo.acpo: pipeline dapo cannot be exported to verl:\n  - stage train (examples/dapo.acpo:13:21): `sample dynamic` has no counterpart among verl's trainer settings (DAPO's group filter lives in a verl recipe); remove it to export\nnothing exported\n");
    expect(() => readdirSync(out)).toThrow();
    const ok = spawnSync(process.execPath, ["cli/acpo.js", "export", "verl", "examples/gspo.acpo", "-o", out], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`examples/gspo.acpo: pipeline gspo exported to ${out} as package acpo_gspo (17 files); see ${out}/README.md\n`);
    const again = spawnSync(process.execPath, ["cli/acpo.js", "export", "verl", "examples/gspo.acpo", "-o", out], { encoding: "utf8" });
    expect(again.status).toBe(1);
    expect(again.stderr).toBe(`acpo: error: ${out} is not empty; give a new or empty folder to export to\n`);
  });
});

function writeDir(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-verl-"));
  writeExport(planExport(loadPipeline(file).pipeline!), dir);
  return dir;
}
