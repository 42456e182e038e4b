// What the report page is given: curves aligned across runs with gaps and stage marks,
// the configuration table's flattening and highlighting, samples with token text, and
// the loader's errors. Hand-made run directories with known values.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCharts, stageMarks, timeSplit } from "../../runtime/loop/report/charts.js";
import { configTable, flattenConfig, runSettings } from "../../runtime/loop/report/config-table.js";
import { renderReport, reportData } from "../../runtime/loop/report/html.js";
import { type RunData, loadRun, loadRuns, modelPathOf } from "../../runtime/loop/report/load.js";
import { entropyScale, viewSamples } from "../../runtime/loop/report/samples.js";
import { writeTokenizerFolder } from "./synthetic-runs.js";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "acpo-report-data-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

function run(name: string, metrics: object[], extra: { evals?: object[]; samples?: object[]; config?: object } = {}): RunData {
  return { name, dir: `/runs/${name}`, metrics: metrics as Record<string, unknown>[], evals: (extra.evals ?? []) as Record<string, unknown>[], samples: (extra.samples ?? []) as Record<string, unknown>[], config: (extra.config ?? null) as Record<string, unknown> | null, problems: [] };
}

describe("charts", () => {
  const a = run("a", [
    { step: 1, stage: "explore", reward_mean: 0.1, kl: 0, attribution_mean: null, time_rollout_s: 2, time_update_s: 1 },
    { step: 2, stage: "explore", reward_mean: 0.2, kl: 0, attribution_mean: null, time_rollout_s: 4, time_update_s: 1 },
    { step: 3, stage: "converge", reward_mean: 0.3, kl: 0.01, attribution_mean: null, time_rollout_s: 3, time_update_s: 1 },
  ], { evals: [{ step: 2, split: "test", metrics: { "acc@8": 0.4, "pass@8": 0.7 } }] });
  const b = run("b", [
    { step: 2, stage: "train", reward_mean: 0.5, kl: 0.02 },
    { step: 4, stage: "train", reward_mean: 0.6, kl: null },
  ], { evals: [{ step: 4, split: "test", metrics: { "acc@8": 0.5 } }] });
  const charts = buildCharts([a, b]);

  it("aligns runs on the union of their steps, null where a run has no value", () => {
    const reward = charts.find((c) => c.id === "metric-reward_mean")!;
    expect(reward.x).toEqual([1, 2, 3, 4]);
    expect(reward.series).toEqual([
      { run: "a", values: [0.1, 0.2, 0.3, null] },
      { run: "b", values: [null, 0.5, null, 0.6] },
    ]);
    const kl = charts.find((c) => c.id === "metric-kl")!;
    expect(kl.series[1]!.values).toEqual([null, 0.02, null, null]); // JSON null (NaN) is a gap
  });

  it("puts evaluation charts first, one per split and metric, and drops metrics no run has", () => {
    expect(charts.slice(0, 2).map((c) => c.id)).toEqual(["eval-test-acc@8", "eval-test-pass@8"]);
    expect(charts[0]!.x).toEqual([2, 4]);
    expect(charts[0]!.series.map((s) => s.values)).toEqual([[0.4, null], [null, 0.5]]);
    expect(charts[0]!.title).toBe("Acc@8 (test split)");
    expect(charts.map((c) => c.id)).not.toContain("metric-attribution_mean"); // all null
    expect(charts.map((c) => c.id)).not.toContain("metric-grad_norm"); // never recorded
  });

  it("marks the first step of each new stage, per run", () => {
    expect(stageMarks([a, b])).toEqual([{ run: "a", step: 3, stage: "converge" }]);
    expect(charts.every((c) => c.marks.length === 1)).toBe(true);
  });

  it("averages each timed phase per run", () => {
    const t = timeSplit([a, b]);
    expect(t[0]!.phases.map((p) => p.seconds)).toEqual([3, null, null, 1]);
    expect(t[1]!.phases.every((p) => p.seconds === null)).toBe(true);
  });
});

describe("configuration table", () => {
  const expr = { kind: "binary", op: ">=", left: { kind: "name", name: "steps", span: {} }, right: { kind: "number", value: 150, span: {} }, span: {} };

  it("flattens settings to dotted keys: named entries by name, small records as JSON, expressions as text", () => {
    const flat = flattenConfig({ rollout: { group: 8, temperature: 1 }, params: [{ name: "alpha", value: 0.5, min: 0, max: null }], metrics: [{ kind: "acc", k: 8 }], markers: ["So", "Then"], segment: null, until: expr, span: { line: 3 } });
    expect([...flat]).toEqual([
      ["rollout.group", "8"],
      ["rollout.temperature", "1"],
      ["params[alpha].value", "0.5"],
      ["params[alpha].min", "0"],
      ["params[alpha].max", "null"],
      ["metrics", '[{"kind":"acc","k":8}]'],
      ["markers", '["So","Then"]'],
      ["segment", "null"],
      ["until", "steps >= 150"],
    ]);
  });

  it("puts the run's own fields under run., skipping the creation time and the pipeline text", () => {
    const s = runSettings({ format: "acpo-run", version: 1, created: "2025-01-01", seed: 3, pipeline_text: "pipeline x {}", adapter: { description: "lavapipe" }, pipeline: { name: "x", rollout: { group: 8 } } });
    expect([...s.keys()]).toEqual(["name", "rollout.group", "run.seed", "run.adapter.description"]);
  });

  it("flags a setting when values differ or one run lacks it, and keeps related settings together", () => {
    const t = configTable([
      run("a", [], { config: { pipeline: { name: "a", rollout: { group: 8 }, params: [{ name: "beta", value: 0.04 }] }, seed: 1 } }),
      run("b", [], { config: { pipeline: { name: "b", rollout: { group: 8 }, params: [{ name: "alpha", value: 0.5 }, { name: "beta", value: 0.3 }] }, seed: 1 } }),
      run("c", []),
    ]);
    expect(t.runs).toEqual(["a", "b", "c"]);
    expect(t.rows.map((r) => [r.key, r.values, r.differs])).toEqual([
      ["name", ["a", "b", null], true],
      ["rollout.group", ["8", "8", null], true],
      ["params[alpha].value", [null, "0.5", null], true],
      ["params[beta].value", ["0.04", "0.3", null], true],
      ["run.seed", ["1", "1", null], true],
    ]);
    const two = configTable([run("a", [], { config: { seed: 1, x: 2 } }), run("b", [], { config: { seed: 1, x: 3 } })]);
    expect(two.rows.map((r) => r.differs)).toEqual([false, true]);
    expect(configTable([run("a", [], { config: { seed: 1 } })]).rows[0]!.differs).toBe(false);
  });
});

describe("samples", () => {
  it("renders tokens with the run's tokenizer, extracts the answer and per-step values", () => {
    const modelDir = join(root, "model");
    const tok = writeTokenizerFolder(modelDir);
    const text = "First, 3+4=7. So, <answer>3+4</answer>";
    const tokens = tok.encode(text);
    const r = run("a", [], {
      config: { pipeline: { model: { path: modelDir } } },
      samples: [{ group: 0, reward: 1, tokens, old_entropy: tokens.map(() => 0.5), entropy: tokens.map(() => 9), step_starts: [0, 7], C: [0.2, null], w: [1.1, 0.8], step: 5, stage: "explore", text }],
    });
    expect(modelPathOf(r.config)).toBe(modelDir);
    const v = viewSamples(r);
    expect(v.tokenNote).toBeNull();
    const s = v.samples[0]!;
    expect(s.pieces!.join("")).toBe(text);
    expect(s.pieces![0]).toBe("First");
    expect(s.entropy.every((h) => h === 0.5)).toBe(true); // rollout entropy preferred
    expect(s.C).toEqual([0.2, null]);
    expect(s.w).toEqual([1.1, 0.8]);
    expect(s.answer).toBe("3+4");
    expect(s.correct).toBe(true);
    expect(entropyScale([v])).toBe(0.5);
  });

  it("shows ids with a reason when there is no tokenizer, and one step when unsegmented", () => {
    const v = viewSamples(run("a", [], { config: { pipeline: { model: { path: join(root, "gone") } } }, samples: [{ group: 1, reward: 0, tokens: [5, 6], entropy: [0.1, 0.2] }] }));
    expect(v.tokenNote).toBe(`tokens shown as ids: no tokenizer at ${join(root, "gone", "tokenizer.json")}`);
    expect(v.samples[0]).toMatchObject({ pieces: null, stepStarts: [0], C: null, w: null, answer: null, reason: null, correct: false, step: null });
    // The verifier's own answer and reason, when the loop recorded them, win over the text.
    const w = viewSamples(run("c", [], { samples: [{ tokens: [1], text: "<answer>2</answer>", answer: null, reason: "no <answer> tag" }] }));
    expect(w.samples[0]).toMatchObject({ answer: null, reason: "no <answer> tag" });
    expect(viewSamples(run("b", [], { samples: [{ tokens: [1] }] })).tokenNote).toBe("tokens shown as ids: the run's config names no model");
  });
});

describe("loading and rendering", () => {
  function dir(name: string, files: Record<string, string>): string {
    const d = join(root, name);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  }

  it("reads a run's files, forgiving only a partial last line (a run killed mid-write)", () => {
    const d = dir("acpo-20250101-120000", { "metrics.jsonl": jsonl([{ step: 1 }, { step: 2 }]) + '{"step": 3, "rew', "eval.jsonl": jsonl([{ step: 2 }]) });
    const r = loadRun(d);
    expect(r.name).toBe("acpo-20250101-120000");
    expect(r.metrics).toEqual([{ step: 1 }, { step: 2 }]);
    expect(r.evals).toEqual([{ step: 2 }]);
    expect(r.samples).toEqual([]);
    expect(r.config).toBeNull();
  });

  it("names the file and line of a malformed record, and refuses non-runs", () => {
    const bad = dir("bad", { "metrics.jsonl": '{"step": 1}\n{oops\n{"step": 3}\n' });
    expect(() => loadRun(bad)).toThrow(`${join(bad, "metrics.jsonl")}:2: not valid JSON`);
    const arr = dir("arr", { "metrics.jsonl": "[1, 2]\n" });
    expect(() => loadRun(arr)).toThrow(`${join(arr, "metrics.jsonl")}:1: expected a JSON object`);
    expect(() => loadRun(dir("empty", {}))).toThrow(/not a run directory \(no metrics\.jsonl\)/);
    expect(() => loadRun(join(root, "missing"))).toThrow(/not a directory/);
    expect(() => loadRuns([])).toThrow(/no run directories/);
  });

  it("makes repeated run names unique", () => {
    const d = dir("same", { "metrics.jsonl": jsonl([{ step: 1 }]) });
    expect(loadRuns([d, d]).map((r) => r.name)).toEqual(["same", "same (2)"]);
  });

  it("writes one self-contained file whose data cannot close its script element", () => {
    const r = run("x</script><b>", [{ step: 1, reward_mean: 1 }], { samples: [{ tokens: [1], text: "<!-- </script> <answer>1</answer>" }] });
    const html = renderReport(reportData([r], "t <i>"));
    expect(html).toContain("<title>t &lt;i&gt;</title>");
    expect(html.match(/<\/script>/g)!.length).toBe(3); // data, uPlot, page script
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // nothing loaded from elsewhere
    const json = html.slice(html.indexOf('id="report-data">') + 17, html.indexOf("</script>"));
    expect(JSON.parse(json).runs[0].name).toBe("x</script><b>");
  });
});
