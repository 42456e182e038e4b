// acpo compare's parts that need no training: the agreement check on real example
// pipelines (and variants written with `extends`) and the statistics of the table on
// synthetic per-seed results (the training call is replaced by the results themselves).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { diffInterval, tQuantile } from "../../runtime/loop/eval/estimators.js";
import { CompareError, type ComparedPipeline, checkComparable } from "../../runtime/loop/report/compare-check.js";
import { type SeedResult, finalEval, formatComparison, summarize } from "../../runtime/loop/report/compare-table.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "acpo-compare-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A variant of an example pipeline, written to a file so `extends` resolves it. */
function variant(name: string, parent: string, body: string): string {
  const file = join(dir, `${name}.acpo`);
  // `extends` paths are relative to the extending file.
  writeFileSync(file, `pipeline ${name} extends "${relative(dir, resolve("examples", parent))}" {\n${body}\n}\n`);
  return file;
}

function load(file: string): ComparedPipeline {
  const r = loadPipeline(file);
  if (!r.pipeline) throw new Error(`${file} does not check: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return { file, pipeline: r.pipeline };
}

describe("checkComparable", () => {
  it("accepts the example methods: same model, task, budget and evaluation; returns their common length", () => {
    const items = ["grpo.acpo", "acpo.acpo", "acpo_no_kl.acpo"].map((f) => load(resolve("examples", f)));
    expect(checkComparable(items)).toBe(200);
    expect(checkComparable(items, 7)).toBe(7);
  });

  it("names the setting and both files when the budget differs", () => {
    const a = load(resolve("examples", "grpo.acpo"));
    const b = load(variant("small_group", "acpo.acpo", "rollout { group 4 }"));
    expect(() => checkComparable([a, b])).toThrow(CompareError);
    expect(() => checkComparable([a, b])).toThrow(/disagree on rollout\.group: .*grpo\.acpo has 8, .*small_group\.acpo has 4; compare runs every pipeline on the same model, task and budget/);
  });

  // The credit examples (issue 15): any two run on equal terms, except DAPO, which samples
  // 16 responses per prompt (its paper's setting): compare refuses it against 8 and says how
  // to write the variant that makes the pair comparable.
  it("accepts any two of the credit examples; DAPO's group of 16 needs a variant", () => {
    const names = ["grpo", "dapo", "dr_grpo", "gspo", "cispo", "gmpo", "sapo", "reinforce_pp", "multi_reward", "acpo"];
    const items = names.map((n) => load(resolve("examples", `${n}.acpo`)));
    const refused: string[] = [];
    for (let i = 0; i < items.length; i++)
      for (let j = i + 1; j < items.length; j++) {
        try {
          expect(checkComparable([items[i]!, items[j]!]), `${names[i]} vs ${names[j]}`).toBe(200);
        } catch (e) {
          if (!(e instanceof CompareError)) throw e;
          refused.push(`${names[i]}/${names[j]}: ${e.message.replace(/\/\S*\/examples\//g, "")}`);
        }
      }
    const others = names.filter((n) => n !== "dapo");
    expect(refused).toEqual(
      others.map((n) => {
        const [a, b, ga, gb] = names.indexOf(n) < 1 ? [n, "dapo", 8, 16] : ["dapo", n, 16, 8];
        return `${a}/${b}: pipelines disagree on rollout.group: ${a}.acpo has ${ga}, ${b}.acpo has ${gb}; compare runs every pipeline on the same model, task and budget (to compare them, write a variant of one that extends it with the other's setting: pipeline NAME extends "FILE" { ... })`;
      }),
    );
    const dapo8 = load(variant("dapo_g8", "dapo.acpo", "rollout { group 8 }"));
    for (const other of items.filter((x) => x.pipeline.name !== "dapo")) expect(checkComparable([dapo8, other])).toBe(200);
  });

  it("refuses different tasks and different final evaluations", () => {
    const a = load(resolve("examples", "acpo.acpo"));
    const t = load(variant("bigger", "acpo.acpo", "task countdown { numbers 3..4  values 1..50  target 1..60 }"));
    expect(() => checkComparable([a, t])).toThrow(/disagree on task/);
    const e = load(variant("k4", "acpo.acpo", "eval { every 25  split test  samples 4  temperature 1.0  metrics [acc@4, pass@4] }"));
    expect(() => checkComparable([a, e])).toThrow(/disagree on eval/);
  });

  it("asks for --steps when the stages end at different steps, and checks --steps", () => {
    const a = load(resolve("examples", "acpo.acpo"));
    const s = load(variant("short", "acpo.acpo", "stage explore until steps >= 10 { kl 0  token_weight 1 }"));
    expect(() => checkComparable([a, s])).toThrow(/disagree on the number of steps: .* runs 200, .* runs 43; give --steps N/);
    expect(checkComparable([a, s], 20)).toBe(20);
    expect(() => checkComparable([a, s], 0)).toThrow(/--steps must be a positive integer/);
    expect(() => checkComparable([a])).toThrow(/at least two pipelines/);
  });
});

describe("summarize / formatComparison", () => {
  // Three seeds; acpo beats grpo by 0.03, 0.04, 0.035 on acc@8, consistently per seed.
  const grpo = { 1: [0.4, 0.7], 2: [0.45, 0.74], 3: [0.41, 0.72] } as Record<number, [number, number]>;
  const acpo = { 1: [0.43, 0.71], 2: [0.49, 0.74], 3: [0.445, 0.75] } as Record<number, [number, number]>;
  const results: SeedResult[] = [];
  for (const [name, table] of [["grpo", grpo], ["acpo", acpo]] as const)
    for (const seed of [1, 2, 3]) results.push({ pipeline: name, seed, runDir: `/runs/${name}-${seed}`, step: 300, split: "test", metrics: { "acc@8": table[seed]![0], "pass@8": table[seed]![1], greedy: 0.5 } });
  // Results arrive in any order; the table follows the pipeline and seed order given.
  const c = summarize([...results].reverse(), ["grpo", "acpo"], [1, 2, 3]);

  it("reports acc@k and pass@k (not greedy) with mean, sample sd and t-interval per pipeline", () => {
    expect(c.metrics).toEqual(["acc@8", "pass@8"]);
    const g = c.rows[0]!.metrics[0]!;
    expect(g.values).toEqual([0.4, 0.45, 0.41]);
    expect(g.mean).toBeCloseTo(0.42, 12);
    const sd = Math.sqrt(((0.4 - 0.42) ** 2 + (0.45 - 0.42) ** 2 + (0.41 - 0.42) ** 2) / 2);
    expect(g.sd).toBeCloseTo(sd, 12);
    expect(g.interval.high - g.interval.estimate).toBeCloseTo(tQuantile(0.975, 2) * (sd / Math.sqrt(3)), 10);
    expect(c.rows[0]!.metrics[0]!.diff).toBeNull();
  });

  it("takes the difference from the first pipeline paired by seed", () => {
    const d = c.rows[1]!.metrics[0]!.diff!;
    const diffs = [0.03, 0.04, 0.035];
    const m = diffs.reduce((a, b) => a + b) / 3;
    const se = Math.sqrt(diffs.reduce((a, x) => a + (x - m) ** 2, 0) / 2 / 3);
    expect(d.estimate).toBeCloseTo(m, 12);
    expect(d.low).toBeCloseTo(m - 4.302652729911275 * se, 8); // t(0.975, df 2)
    expect(d.high).toBeCloseTo(m + 4.302652729911275 * se, 8);
    expect(d.low).toBeGreaterThan(0); // consistent gains: the paired interval excludes 0
    // Unpaired, the same numbers would not show it: seed-to-seed spread swamps the gain.
    expect(diffInterval(c.rows[1]!.metrics[0]!.values, c.rows[0]!.metrics[0]!.values).low).toBeLessThan(0);
    const pass = c.rows[1]!.metrics[1]!.diff!;
    expect(pass.estimate).toBeCloseTo((0.01 + 0 + 0.03) / 3, 12);
    expect(pass.low).toBeLessThan(0);
  });

  it("prints percentages and percentage-point differences with intervals", () => {
    const text = formatComparison(c);
    const lines = text.split("\n");
    expect(lines[0]).toBe("final evaluation at step 300 (test split), 3 seeds (1, 2, 3); Δ in percentage points, paired by seed");
    expect(lines[1]).toMatch(/^pipeline\s+Acc@8 % \(mean ± sd\)\s+Δ vs grpo \[95 % CI\]\s+pass@8 % \(mean ± sd\)\s+Δ vs grpo \[95 % CI\]$/);
    expect(lines[3]).toMatch(/^grpo\s+42\.0 ± 2\.6\s+—\s+72\.0 ± 2\.0\s+—$/);
    expect(lines[4]).toMatch(/^acpo\s+45\.5 ± 3\.1\s+\+3\.5 \[\+2\.3, \+4\.7\]\s+73\.3 ± 2\.1\s+\+1\.3 \[-2\.5, \+5\.1\]$/);
  });

  it("needs a result for every pipeline and seed, and a shared acc/pass metric", () => {
    expect(() => summarize(results.slice(1), ["grpo", "acpo"], [1, 2, 3])).toThrow(/no result for grpo with seed 1/);
    const odd = results.map((r) => ({ ...r, metrics: { greedy: 0.5 } }));
    expect(() => summarize(odd, ["grpo", "acpo"], [1, 2, 3])).toThrow(/share no acc@k or pass@k metric/);
  });

  it("gives NaN intervals, not a crash, for a single seed", () => {
    const one = summarize(results, ["grpo", "acpo"], [2]);
    expect(one.rows[1]!.metrics[0]!.diff!.estimate).toBeCloseTo(0.04, 12);
    expect(Number.isNaN(one.rows[1]!.metrics[0]!.diff!.low)).toBe(true);
    expect(formatComparison(one)).toContain("+4.0 [n/a, n/a]");
  });
});

describe("finalEval", () => {
  it("reads the last step's held-out evaluation, null metrics as NaN", () => {
    const run = join(dir, "run");
    mkdirSync(run, { recursive: true });
    const line = (o: object) => `${JSON.stringify(o)}\n`;
    writeFileSync(
      join(run, "eval.jsonl"),
      line({ step: 25, split: "test", metrics: { "acc@8": 0.3 } }) + line({ step: 50, split: "test", metrics: { "acc@8": 0.4, "pass@8": null } }) + line({ step: 50, split: "train", metrics: { "acc@8": 0.9 } }),
    );
    const f = finalEval(run)!;
    expect(f.step).toBe(50);
    expect(f.split).toBe("test");
    expect(f.metrics["acc@8"]).toBe(0.4);
    expect(Number.isNaN(f.metrics["pass@8"])).toBe(true);
    expect(finalEval(join(dir, "none"))).toBeNull();
  });
});
