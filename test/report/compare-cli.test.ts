// `acpo compare` as a user runs it, with the real trainer: two tiny pipelines (GRPO and
// ACPO over a freshly initialised tiny model, 2 prompts x 2 responses, 2 steps) on 2 seeds;
// then the printed table, comparison.json and the report. And the refusal of pipelines
// that disagree, before anything trains.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "acpo-compare-cli-"));
  execFileSync("node", ["cli/acpo.js", "init-model", join(dir, "model")], { stdio: "pipe" });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function acpo(args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    // Generous: on a fresh machine every child compiles its shaders before Mesa's cache fills.
    const stdout = execFileSync("node", ["cli/acpo.js", ...args], { encoding: "utf8", stdio: "pipe", timeout: 1_200_000 });
    return { status: 0, stdout, stderr: "" };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { status: x.status, stdout: x.stdout, stderr: x.stderr };
  }
}

/** A small variant of an example pipeline on the tiny model. */
function tiny(name: string, parent: string, group = 2): string {
  const file = join(dir, `${name}.acpo`);
  writeFileSync(
    file,
    `pipeline ${name} extends "${relative(dir, resolve("examples", parent))}" {
  model "model"
  rollout { prompts 2  group ${group}  max_tokens 16 }
  eval { every 2  split test  problems 3  samples 2  temperature 1.0  max_tokens 16  metrics [acc@2, pass@2] }
}
`,
  );
  return file;
}

describe("acpo compare", () => {
  it("stops before training when the pipelines disagree, with one clear line", () => {
    const r = acpo(["compare", tiny("g", "grpo.acpo"), tiny("g4", "grpo.acpo", 4), "--seeds", "2", "--out", join(dir, "refused")]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^acpo: error: pipelines disagree on rollout\.group: .*g\.acpo has 2, .*g4\.acpo has 4; compare runs every pipeline on the same model, task and budget \(to compare them, write a variant of one that extends it with the other's setting: pipeline NAME extends "FILE" \{ \.\.\. \}\)$/);
    expect(existsSync(join(dir, "refused"))).toBe(false);
  });

  it("trains every pipeline on every seed, prints the table and writes the report", () => {
    const out = join(dir, "cmp");
    const r = acpo(["compare", tiny("grpo_t", "grpo.acpo"), tiny("acpo_t", "acpo.acpo"), "--seeds", "2", "--steps", "2", "--out", out, "--quiet"]);
    expect(r.stderr.replace(/^Warning: .*\n/gm, "")).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.filter((l) => l.startsWith("compare: "))).toEqual(["compare: grpo_t seed 0 (2 steps)", "compare: acpo_t seed 0 (2 steps)", "compare: grpo_t seed 1 (2 steps)", "compare: acpo_t seed 1 (2 steps)"]);
    expect(r.stdout).toContain("final evaluation at step 2 (test split), 2 seeds (0, 1); Δ in percentage points, paired by seed");
    expect(r.stdout).toMatch(/\nacpo_t\s+\d+\.\d ± \d+\.\d\s+[+-]\d+\.\d \[/);
    expect(readdirSync(out).sort()).toEqual(["acpo_t-seed0", "acpo_t-seed1", "comparison.json", "comparison.txt", "grpo_t-seed0", "grpo_t-seed1", "report.html"]);
    const json = JSON.parse(readFileSync(join(out, "comparison.json"), "utf8")) as { seeds: number[]; metrics: string[]; steps: number; runs: { pipeline: string; seed: number; metrics: Record<string, number> }[] };
    expect(json.seeds).toEqual([0, 1]);
    expect(json.steps).toBe(2);
    expect(json.metrics).toEqual(["acc@2", "pass@2"]);
    expect(json.runs.map((x) => `${x.pipeline}/${x.seed}`)).toEqual(["grpo_t/0", "acpo_t/0", "grpo_t/1", "acpo_t/1"]);
    // Each run really used its seed: the resolved configs say so.
    for (const name of ["grpo_t-seed1", "acpo_t-seed1"]) expect(JSON.parse(readFileSync(join(out, name, "config.resolved.json"), "utf8")).seed).toBe(1);
    const html = readFileSync(join(out, "report.html"), "utf8");
    for (const name of ["grpo_t-seed0", "grpo_t-seed1", "acpo_t-seed0", "acpo_t-seed1"]) expect(html).toContain(`"name":"${name}"`);
  }, 1_200_000);

  it("--resume continues a stopped comparison: finished runs reused, the missing one trained, the same table", () => {
    // Continues the directory of the test above, as if its process had been killed during
    // grpo_t seed 1: that run is gone, the three others finished.
    const out = join(dir, "cmp");
    const before = JSON.parse(readFileSync(join(out, "comparison.json"), "utf8")) as { runs: unknown[] };
    rmSync(join(out, "grpo_t-seed1"), { recursive: true });
    const args = ["compare", join(dir, "grpo_t.acpo"), join(dir, "acpo_t.acpo"), "--seeds", "2", "--steps", "2", "--out", out, "--quiet"];
    const r = acpo([...args, "--resume"]);
    expect(r.stderr.replace(/^Warning: .*\n/gm, "")).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l.includes("reused"))).toEqual(
      ["grpo_t-seed0", "acpo_t-seed0", "acpo_t-seed1"].map((n) => `compare: ${join(out, n)} finished earlier (evaluation at step 2): reused`),
    );
    // Training is deterministic per seed, so the retrained run gives the same numbers.
    expect(JSON.parse(readFileSync(join(out, "comparison.json"), "utf8")).runs).toEqual(before.runs);

    // A different budget is not this comparison: refused before anything trains, naming the run.
    const other = acpo([...args.slice(0, 5), "--steps", "3", "--out", out, "--quiet", "--resume"]);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`cannot resume ${join(out, "grpo_t-seed0")}`);
    expect(other.stderr).toContain("--steps 3: the run takes 2 steps");
    // Without --out there is nothing to continue.
    expect(acpo([...args.slice(0, 5), "--resume"]).stderr).toContain("compare --resume needs --out DIR");
  }, 1_200_000);

  it("--resume refuses a run started with a --set the comparison does not give", () => {
    // The file with the run's --set applied is exactly the run's pipeline, so only the
    // series' own --set can tell that this run is not what `compare FILE` trains.
    const out = join(dir, "cmp-set");
    const grpo = join(dir, "grpo_t.acpo");
    const trained = acpo(["train", grpo, "--steps", "2", "--seed", "0", "--set", "beta=0.5", "--out", join(out, "grpo_t-seed0"), "--quiet"]);
    expect(trained.status).toBe(0);
    const r = acpo(["compare", grpo, join(dir, "acpo_t.acpo"), "--seeds", "1", "--steps", "2", "--out", out, "--quiet", "--resume"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`compare --resume: ${join(out, "grpo_t-seed0")} is not this compare's run: it was started with --set beta=0.5, this compare gives no --set`);
    expect(existsSync(join(out, "acpo_t-seed0"))).toBe(false);
  }, 1_200_000);

  it("runs two pipelines with different losses (CISPO vs GMPO) on the same steps, prompts and evaluation", () => {
    const out = join(dir, "losses");
    const r = acpo(["compare", tiny("cispo_t", "cispo.acpo"), tiny("gmpo_t", "gmpo.acpo"), "--seeds", "1", "--steps", "2", "--out", out, "--quiet", "--credit"]);
    expect(r.stderr.replace(/^Warning: .*\n/gm, "")).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("final evaluation at step 2 (test split), 1 seed (0)");
    expect(r.stdout).toMatch(/\ngmpo_t\s+\d+\.\d ± n\/a\s+[+-]\d+\.\d \[n\/a, n\/a\]/);
    const lines = (run: string, file: string) => readFileSync(join(out, run, file), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    // The same optimizer steps, and at each step the same prompts (problem ids, in batch order).
    const prompts = (run: string) => lines(run, "samples.jsonl").map((x) => `${x.step}:${x.group}:${x.problem}`);
    expect(prompts("gmpo_t-seed0")).toEqual(prompts("cispo_t-seed0"));
    expect(new Set(prompts("cispo_t-seed0").map((p) => p.split(":")[0]))).toEqual(new Set(["1", "2"]));
    expect(lines("gmpo_t-seed0", "metrics.jsonl").map((m) => m.step)).toEqual([1, 2]);
    expect(lines("cispo_t-seed0", "metrics.jsonl").map((m) => m.step)).toEqual([1, 2]);
    // Each evaluated alike: same steps, split, problems and samples.
    const evals = (run: string) => lines(run, "eval.jsonl").map((e) => `${e.step}/${e.split}/${e.problems}/${e.samples}`);
    expect(evals("gmpo_t-seed0")).toEqual(evals("cispo_t-seed0"));
    // And each run with its own loss: the configs differ exactly there.
    const loss = (run: string) => (JSON.parse(readFileSync(join(out, run, "config.resolved.json"), "utf8")) as { pipeline: { loss: { kind: string } } }).pipeline.loss.kind;
    expect([loss("cispo_t-seed0"), loss("gmpo_t-seed0")]).toEqual(["cispo", "gmpo"]);
    // --credit: the report re-scores the baseline's run under both pipelines, every recorded response.
    const html = readFileSync(join(out, "report.html"), "utf8");
    const data = JSON.parse(html.match(/<script type="application\/json" id="report-data">(.*?)<\/script>/s)![1]!) as { credit: { run: string; pipelines: string[]; samples: unknown[] } };
    expect([data.credit.run, ...data.credit.pipelines]).toEqual(["cispo_t-seed0", "cispo_t", "gmpo_t"]);
    expect(data.credit.samples.length).toBe(prompts("cispo_t-seed0").length);
  }, 1_200_000);
});
