// `acpo export verl` of pipelines whose stages differ (acpo.acpo, acpo_newline.acpo: stage
// 2's own token weight and a KL to the policy frozen at the end of stage 1): each stage's
// generated loss, called as verl's actor would call the stage's registered loss, against
// the float64 interpreter; the stage schedule (generated `until` programs, schedule.py)
// against the exporter's own stepping; `until` conditions the driver cannot evaluate are
// refused; and the exported reward function (verl's custom_reward_function) against acpo's
// verifiers. verl itself is absent: trainer.py's switch is not executed here.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { interpretStage } from "../../compiler/interpret/stage.js";
import { ExportRefused, planExport, verlPrograms, writeExport, type ExportPlan } from "../../export/verl/index.js";
import { verifyCountdown, verifyMath, verifyNumeric } from "../../runtime/engine/tasks/verifiers.js";
import { randomBatch } from "../compiler/backend/random-batch.js";
import { expectClose } from "../helpers/numeric.js";
import { ensureTorch, runTorchScript } from "../helpers/torch.js";

const RUNNER = fileURLToPath(new URL("./verl_stages_runner.py", import.meta.url));

interface RunnerOut {
  losses: { loss: number; grad: number[] }[];
  schedule: { stages: string[]; switches: { step: number; ended: string; next: string | null; freeze: string | null }[] };
  rewards: { score: number; acc: number }[];
}

function exportTo(plan: ExportPlan): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-verl-"));
  writeExport(plan, dir);
  return dir;
}

/** Export each plan and run its job in one Python process (torch imports once; the machine is shared). */
function runAll(jobs: [ExportPlan, Record<string, unknown>][]): RunnerOut[] {
  const specs = jobs.map(([plan, spec]) => ({ dir: exportTo(plan), pkg: plan.pkg, ...spec }));
  const file = join(specs[0]!.dir, "jobs.json");
  writeFileSync(file, JSON.stringify({ jobs: specs }));
  return runTorchScript<RunnerOut[]>(RUNNER, [file]);
}

/** A pipeline file extending an example, in a temporary folder. */
function variant(body: string, base = "acpo.acpo"): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-verl-src-"));
  const file = join(dir, "v.acpo");
  writeFileSync(file, `pipeline v extends "${resolve("examples", base)}" {\n${body}\n}\n`);
  return file;
}

describe("acpo export verl: stages", () => {
  beforeAll(() => ensureTorch());

  it("acpo and acpo_newline export with a loss per stage, the stage chain and a frozen reference", () => {
    for (const [file, explore] of [["acpo.acpo", 167], ["acpo_newline.acpo", 183]] as const) {
      const plan = planExport(loadPipeline(`examples/${file}`).pipeline!);
      const pkg = plan.pkg;
      expect(plan.staged).toBe(true);
      expect(plan.stages.map(({ name, next, steps, start, kl, reference, lossMode }) => ({ name, next, steps, start, kl, reference, lossMode }))).toEqual([
        { name: "explore", next: "converge", steps: explore, start: 0, kl: null, reference: null, lossMode: `${pkg}__explore` },
        { name: "converge", next: null, steps: 33, start: explore, kl: { type: "low_var_kl", coef: 0.01 }, reference: "explore", lossMode: `${pkg}__converge` },
      ]);
      expect(plan.steps).toBe(explore + 33);
      const dir = exportTo(plan);
      const yaml = readFileSync(join(dir, `config/${pkg}.yaml`), "utf8");
      expect(yaml).toContain(`      loss_mode: ${pkg}__explore          # the generated loss (numerics.py: policy_loss_explore); the trainer sets each stage's\n`);
      expect(yaml).toContain("    use_kl_loss: true\n    kl_loss_coef: 0         # stage explore has no KL term; starts the reference worker for stage converge's (the trainer sets each stage's loss)\n    kl_loss_type: low_var_kl\n");
      expect(yaml).toContain(`  total_training_steps: ${explore + 33}      # stage explore: ${explore} steps, stage converge: 33 steps\n`);
      expect(yaml).toContain(`    trainer_mode: ${pkg}      # the ACPO trainer (trainer.py): segmentation, attribution, entropy into the advantage; stage switches (loss, KL, frozen reference);\n`);
      expect(yaml).toContain(`reward:\n  custom_reward_function:          # acpo's verifier (reward.py; the package must be installed)\n    path: pkg://${pkg}.reward\n    name: compute_score\n`);
      const numerics = readFileSync(join(dir, `${pkg}/numerics.py`), "utf8");
      expect(numerics).toContain('STAGED = True\n');
      expect(numerics).toContain('FREEZE = ["explore"]\n');
      expect(numerics).toContain(`        "next": None, "loss_mode": "${pkg}__converge", "policy_loss": policy_loss_converge, "until": until_converge,\n        "kl": {"type": "low_var_kl", "coef": 0.01}, "reference": "explore", "steps": 33,\n`);
    }
  });

  it("each stage's generated loss, as verl's actor calls the stage's registered loss, equals the interpreter's", () => {
    const files = ["acpo.acpo", "acpo_newline.acpo"];
    const b = randomBatch({ groups: 2, perGroup: 3, T: 7, V: 4, S: 1, logits: false }, 23);
    const mask = Array.from(b.stepIdx, (s) => (s >= 0 ? 1 : 0));
    const pipelines = files.map((f) => loadPipeline(`examples/${f}`).pipeline!);
    const outs = runAll(pipelines.map((p) => [planExport(p), {
      losses: p.stages.map((s, i) => {
        const { adv } = verlPrograms(p, i);
        return { stage: s.name, B: b.B, L: b.T, mask, old: Array.from(b.oldLogp), logp: Array.from(b.logp!), advantages: Array.from(interpretStage(adv, b).tokens.advantage) };
      }),
    }]));
    for (const [k, file] of files.entries()) {
      const p = pipelines[k]!, out = outs[k]!;
      const refs = p.stages.map((_, i) => interpretStage(verlPrograms(p, i).loss, b));
      refs.forEach((ref, i) => {
        expectClose([out.losses[i]!.loss], [ref.loss], 1e-9, 1e-9, `${file} stage ${p.stages[i]!.name}: loss`);
        expectClose(out.losses[i]!.grad, Array.from(ref.tokens.dlogp), 1e-9, 1e-9, `${file} stage ${p.stages[i]!.name}: d loss / d log_prob`);
      });
      // The stages' losses differ (converge weighs tokens by p), so the switch matters.
      expect(Math.abs(refs[0]!.loss - refs[1]!.loss)).toBeGreaterThan(1e-6);
    }
  });

  it("the Python schedule runs each stage as long as the exporter planned, freezing the reference at the switch", () => {
    const cases: [string, string[], { step: number; ended: string; next: string | null; freeze: string | null }[]][] = [
      ["examples/acpo.acpo", [...Array(167).fill("explore"), ...Array(33).fill("converge")], [{ step: 167, ended: "explore", next: "converge", freeze: "explore" }, { step: 200, ended: "converge", next: null, freeze: null }]],
      // Conditions on both counters, in other forms than steps >= N, stepped by the interpreter and by Python.
      [variant("stage explore until total_steps >= 7 and steps > 4 { }\nstage converge until steps == 3 or total_steps >= 100 { reference explore  kl 0.01 * k3  token_weight p }"),
        [...Array(7).fill("explore"), ...Array(3).fill("converge")], [{ step: 7, ended: "explore", next: "converge", freeze: "explore" }, { step: 10, ended: "converge", next: null, freeze: null }]],
    ];
    const plans = cases.map(([file]) => planExport(loadPipeline(file).pipeline!));
    const outs = runAll(cases.map(([, stages], k) => [plans[k]!, { steps: stages.length }]));
    for (const [k, [file, stages, switches]] of cases.entries()) {
      expect(plans[k]!.stages.map((s) => s.steps), file).toEqual([stages.filter((s) => s === "explore").length, stages.filter((s) => s === "converge").length]);
      const out = outs[k]!;
      expect(out.schedule.stages, file).toEqual(stages);
      expect(out.schedule.switches, file).toEqual(switches);
    }
  });

  it("refuses an `until` the driver cannot evaluate, or one that never holds, naming the stage and line", () => {
    const refused = (file: string): string[] => {
      try {
        planExport(loadPipeline(file).pipeline!);
        return [];
      } catch (e) {
        if (!(e instanceof ExportRefused)) throw e;
        return e.reasons;
      }
    };
    const stat = variant("stage explore until mean(r over batch) > 0.5 { }");
    expect(refused(stat)).toEqual([
      `stage explore (${relative(process.cwd(), stat)}:2:21): \`until\` reads \`r\`: the exported trainer decides the stage on verl's driver from the step counters only (\`steps\`, \`total_steps\`), and verl needs the run's length up front (trainer.total_training_steps); write the condition on the counters to export`,
    ]);
    const never = variant("stage explore until total_steps < 1 { }");
    expect(refused(never)).toEqual([
      `stage explore (${relative(process.cwd(), never)}:2:21): \`until\` does not hold within 100000 steps of the stage, and verl needs the run's length up front (trainer.total_training_steps)`,
    ]);
  });

  it("the reward function gives acpo's verdicts: countdown, arith (numeric) and math tasks", () => {
    const countdown = [
      { solution_str: "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>", ground_truth: { numbers: [7, 3, 4], target: 25 } },
      { solution_str: "<answer>7*3+4</answer>", ground_truth: JSON.stringify({ numbers: [7, 3, 4], target: 24 }) },
      { solution_str: "<answer>7*3</answer>", ground_truth: { numbers: [7, 3, 4], target: 21 } },
      { solution_str: "no answer", ground_truth: { numbers: [7, 3, 4], target: 25 } },
    ];
    const arith = [
      { solution_str: "<answer>42</answer>", ground_truth: 42 },
      { solution_str: "<answer> 42.0000001 </answer>", ground_truth: "42" },
      { solution_str: "<answer>41</answer>", ground_truth: 42 },
    ];
    const math = [
      { solution_str: "So the answer is \\boxed{\\frac{1}{2}}.", ground_truth: "0.5" },
      { solution_str: "<answer>\\boxed{2\\sqrt{2}}</answer>", ground_truth: "The side is \\boxed{\\sqrt{8}}." },
      { solution_str: "The answer is 72 clips.", ground_truth: "Natalia sold 48 + 24 clips.\n#### 72" },
      { solution_str: "\\boxed{(1,2)}", ground_truth: "(2,1)" },
    ];
    const want = {
      countdown: countdown.map((c) => {
        const g = typeof c.ground_truth === "string" ? (JSON.parse(c.ground_truth) as { numbers: number[]; target: number }) : c.ground_truth;
        return verifyCountdown(g.numbers, g.target, c.solution_str, 0);
      }),
      arith: arith.map((c) => verifyNumeric(Number(c.ground_truth), c.solution_str, 1e-6, 0)),
      math: math.map((c) => verifyMath(c.ground_truth, c.solution_str, 0)),
    };
    const pipelines = {
      countdown: "examples/grpo.acpo",
      arith: variant("task arithmetic { operands 2..3  values 1..9  max_value 99  ops [add, sub, mul]  verifier numeric }", "grpo.acpo"),
      math: "examples/math_qwen.acpo",
    };
    const tasks = Object.entries({ countdown, arith, math });
    const outs = runAll(tasks.map(([task, cases]) => [planExport(loadPipeline(pipelines[task as keyof typeof pipelines]).pipeline!), { rewards: cases }]));
    for (const [k, [task]] of tasks.entries()) {
      const out = outs[k]!;
      const w = want[task as keyof typeof want];
      expect(out.rewards, task).toEqual(w.map((v) => ({ score: v.reward, acc: v.correct ? 1 : 0 })));
      expect(w.some((v) => v.correct) && w.some((v) => !v.correct), task).toBe(true);
    }
  });
});
