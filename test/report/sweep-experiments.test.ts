// The follow-up experiments of issue 13 end to end with the real trainer on a freshly
// initialised tiny model (2 prompts x 2 responses, 3 steps): one sweep over the
// segmentation (block axis) and the stage switch step (a param in `until`), then
// attribution-check over the sweep's runs. Asserts that each cell trained what its label
// says, that the curve table's var(C) is the runs' own attribution_std² mean, and that the
// report and the check cover every run.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "acpo-sweep-exp-"));
  execFileSync("node", ["cli/acpo.js", "init-model", join(dir, "model")], { stdio: "pipe" });
  file = join(dir, "timing_t.acpo");
  writeFileSync(
    file,
    `pipeline timing_t extends ${JSON.stringify(resolve("experiments", "stage-timing.acpo"))} {
  model "model"
  rollout { prompts 2  group 2  max_tokens 16 }
  eval { every 3  split test  problems 2  samples 2  temperature 1.0  max_tokens 16  metrics [acc@2] }
}
`,
  );
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jsonl = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

describe("segmentation x stage-timing sweep, then attribution-check", () => {
  it("trains each cell as labelled, tabulates var(C) from the runs and checks attribution on all of them", () => {
    const out = join(dir, "sw");
    const stdout = execFileSync("node", ["cli/acpo.js", "sweep", file, "--grid", "segment=none,fixed:4", "--grid", "switch=1,2", "--seeds", "1", "--steps", "3", "--out", out, "--quiet"], { encoding: "utf8", stdio: "pipe", timeout: 1_200_000 });
    const cells = ["segment=none,switch=1", "segment=none,switch=2", "segment=fixed:4,switch=1", "segment=fixed:4,switch=2"];
    expect(readdirSync(join(out, "cells")).sort()).toEqual(cells.map((c) => `${c}.acpo`).sort());
    for (const c of cells) {
      const run = join(out, `${c}-seed0`);
      const cfg = JSON.parse(readFileSync(join(run, "config.resolved.json"), "utf8")) as { pipeline: { segment: unknown } };
      expect(cfg.pipeline.segment).toEqual(c.startsWith("segment=none") ? { kind: "none" } : { kind: "fixed", length: 4 });
      // The switch param moves the stage change: explore for `switch` steps, then converge.
      const sw = Number(c.slice(-1));
      expect(jsonl(join(run, "metrics.jsonl")).map((m) => m.stage)).toEqual([1, 2, 3].map((s) => (s <= sw ? "explore" : "converge")));
    }
    // The curve table: var(C) of a cell (one seed) is its run's mean attribution_std².
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")) as { extras: { cell: string; var_C: { mean: number } }[] };
    for (const c of cells) {
      const stds = jsonl(join(out, `${c}-seed0`, "metrics.jsonl")).map((m) => m.attribution_std as number);
      const row = json.extras.find((e) => e.cell === c.replace(",", " "))!;
      expect(row.var_C.mean).toBeCloseTo(stds.reduce((a, s) => a + s * s, 0) / stds.length, 10);
    }
    expect(stdout).toMatch(/\ncell\s+var\(C\), mean over steps \(mean ± sd\)\s+Δ vs segment=none switch=1 \[95 % CI\]\s+H at last step \(nats\) \(mean ± sd\)/);
    const html = readFileSync(join(out, "report.html"), "utf8");
    const sections = JSON.parse(/<script type="application\/json" id="sections-data">(.*?)<\/script>/s.exec(html)![1]!) as { tables: unknown[]; charts: { id: string; series: { label: string }[] }[] }[];
    expect(sections[0]!.tables).toHaveLength(2);
    const entropy = sections[0]!.charts.find((c) => c.id === "sweep-entropy_mean")!;
    expect(entropy.series.map((s) => s.label)).toEqual(cells.flatMap((c) => [`${c.replace(",", " ")} (mean of 1)`, `${c.replace(",", " ")} seed 0`]));

    // attribution-check reads the sweep directory as its four runs.
    execFileSync("node", ["cli/acpo.js", "attribution-check", out, "--bootstrap", "20"], { encoding: "utf8", stdio: "pipe" });
    const rows = JSON.parse(readFileSync(join(out, "attribution-check.json"), "utf8")) as { run: string; check: string; segment: string }[];
    expect(rows.map((r) => `${r.run}/${r.check}/${r.segment}`)).toEqual(cells.flatMap((c) => ["on path", "misread step"].map((k) => `${c}-seed0/${k}/${c.startsWith("segment=none") ? "none" : "fixed"}`)));
  }, 1_200_000);
});
