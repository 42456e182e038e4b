// `acpo sweep` as a user runs it, with the real trainer: the ACPO example over a freshly
// initialised tiny model (2 prompts x 2 responses, 2 steps), swept over alpha on 2 seeds
// with a named baseline; then the printed table, sweep.json and the report. And the
// refusals of a bad grid, before anything trains.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "acpo-sweep-cli-"));
  execFileSync("node", ["cli/acpo.js", "init-model", join(dir, "model")], { stdio: "pipe" });
  file = join(dir, "acpo_t.acpo");
  writeFileSync(
    file,
    `pipeline acpo_t extends "${relative(dir, resolve("examples", "acpo.acpo"))}" {
  model "model"
  rollout { prompts 2  group 2  max_tokens 16 }
  eval { every 2  split test  problems 3  samples 2  temperature 1.0  max_tokens 16  metrics [acc@2, pass@2] }
}
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function acpo(args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync("node", ["cli/acpo.js", ...args], { encoding: "utf8", stdio: "pipe", timeout: 1_200_000 });
    return { status: 0, stdout, stderr: "" };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { status: x.status, stdout: x.stdout, stderr: x.stderr };
  }
}

describe("acpo sweep", () => {
  it.each([
    [["--grid", "alpha=0,0"], "acpo: error: --grid alpha=0,0: a value repeats, so two cells would be the same"],
    [["--grid", "alpha"], "acpo: error: --grid alpha: expected name=v1,v2,... (e.g. --grid alpha=0,0.5)"],
    [["--grid", "alpha=0", "--grid", "alpha=1"], "acpo: error: --grid alpha is given twice; list all its values in one --grid"],
    [["--grid", "alpha=0,1", "--set", "alpha=2"], "acpo: error: alpha is both swept (--grid) and fixed (--set); drop one"],
    [["--grid", "alpha=0,1", "--baseline", "alpha=3"], 'acpo: error: --baseline "alpha=3" is not a cell of the grid; the cells are: "alpha=0", "alpha=1"'],
    [[], "acpo: error: sweep needs at least one --grid name=v1,v2,..."],
  ])("refuses %j before training", (args, message) => {
    const out = join(dir, "refused");
    const r = acpo(["sweep", file, ...args, "--out", out]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(message);
    expect(existsSync(out)).toBe(false);
  });

  it("checks every cell's values with the checker before training any", () => {
    const out = join(dir, "refused-bounds");
    // alpha is declared in [0, 10]: the second cell is out of bounds.
    const r = acpo(["sweep", file, "--grid", "alpha=0,11", "--out", out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/acpo: error: .*acpo_t\.acpo: 1 error; cell alpha=11: nothing trained\n$/);
    expect(existsSync(out)).toBe(false);
  });

  it("trains every cell on every seed, prints the table against the baseline and writes the report", () => {
    const out = join(dir, "sw");
    const r = acpo(["sweep", file, "--grid", "alpha=0,0.5", "--baseline", "alpha=0.5", "--seeds", "2", "--steps", "2", "--out", out, "--quiet"]);
    expect(r.stderr.replace(/^Warning: .*\n/gm, "")).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.filter((l) => l.startsWith("sweep: "))).toEqual(["sweep: alpha=0.5 seed 0", "sweep: alpha=0 seed 0", "sweep: alpha=0.5 seed 1", "sweep: alpha=0 seed 1"]);
    expect(r.stdout).toContain("final evaluation at step 2 (test split), 2 seeds (0, 1); Δ in percentage points, paired by seed");
    expect(r.stdout).toMatch(/\ncell\s+Acc@2 % \(mean ± sd\)\s+Δ vs alpha=0\.5 \[95 % CI\]/);
    expect(r.stdout).toMatch(/\nalpha=0\s+\d+\.\d ± \d+\.\d\s+[+-]\d+\.\d \[/);
    expect(readdirSync(out).sort()).toEqual(["alpha=0-seed0", "alpha=0-seed1", "alpha=0.5-seed0", "alpha=0.5-seed1", "report.html", "sweep.json", "sweep.txt"]);
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { baseline: string; seeds: number[]; metrics: string[]; runs: { pipeline: string; seed: number }[] };
    expect(json.baseline).toBe("alpha=0.5");
    expect(json.seeds).toEqual([0, 1]);
    expect(json.metrics).toEqual(["acc@2", "pass@2"]);
    expect(json.runs.map((x) => `${x.pipeline}/${x.seed}`)).toEqual(["alpha=0.5/0", "alpha=0/0", "alpha=0.5/1", "alpha=0/1"]);
    // Each run really used its cell's value and its seed: the resolved configs say so.
    const cfg = JSON.parse(readFileSync(join(out, "alpha=0-seed1", "config.resolved.json"), "utf8")) as { seed: number; set: string[] };
    expect(cfg.seed).toBe(1);
    expect(cfg.set).toEqual(["alpha=0"]);
    const html = readFileSync(join(out, "report.html"), "utf8");
    for (const name of ["alpha=0-seed0", "alpha=0-seed1", "alpha=0.5-seed0", "alpha=0.5-seed1"]) expect(html).toContain(`"name":"${name}"`);
  }, 1_200_000);

  it("--resume continues a stopped sweep: finished runs reused, the missing one trained, the same table", () => {
    // Continues the directory of the test above, as if its process had been killed during
    // alpha=0 seed 1: that run is gone, the three others finished.
    const out = join(dir, "sw");
    const before = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { runs: unknown[] };
    rmSync(join(out, "alpha=0-seed1"), { recursive: true });
    const args = ["sweep", file, "--grid", "alpha=0,0.5", "--baseline", "alpha=0.5", "--seeds", "2", "--out", out, "--quiet"];
    const r = acpo([...args, "--steps", "2", "--resume"]);
    expect(r.stderr.replace(/^Warning: .*\n/gm, "")).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l.includes("reused"))).toEqual(
      ["alpha=0.5-seed0", "alpha=0-seed0", "alpha=0.5-seed1"].map((n) => `sweep: ${join(out, n)} finished earlier (evaluation at step 2): reused`),
    );
    // Training is deterministic per seed, so the retrained run gives the same numbers.
    expect(JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")).runs).toEqual(before.runs);
    // A different budget is not this sweep: refused before anything trains, naming the run.
    const other = acpo([...args, "--steps", "3", "--resume"]);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`sweep --resume: ${join(out, "alpha=0.5-seed0")} is not this sweep's run: cannot resume`);
    expect(other.stderr).toContain("--steps 3: the run takes 2 steps");
    expect(acpo(["sweep", file, "--grid", "alpha=0,0.5", "--resume"]).stderr).toContain("sweep --resume needs --out DIR");
  }, 1_200_000);
});
