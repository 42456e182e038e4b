// The sweep's curve-derived table (var(C), last-step entropy) and per-cell mean curves,
// on constructed metrics whose values are known.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatExtras, runExtras, summarizeExtras } from "../../runtime/loop/report/sweep-extras.js";
import { cellCurves, meanCurve } from "../../runtime/loop/report/sweep-curves.js";
import type { RunData } from "../../runtime/loop/report/load.js";
import { baselineFirst, cellDirName, gridCells, parseGrid } from "../../runtime/loop/report/sweep-grid.js";
import { cellSource } from "../../runtime/loop/report/sweep-cells.js";
import { loadPipeline } from "../../compiler/index.js";

const dir = mkdtempSync(join(tmpdir(), "acpo-sweep-summary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function metricsDir(name: string, rows: Record<string, unknown>[]): string {
  const d = join(dir, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  writeFileSync(join(d, "metrics.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return d;
}

describe("sweep extras", () => {
  it("var(C) is the mean over steps of attribution_std²; H is the last step's entropy_mean", () => {
    const d = metricsDir("a", [{ step: 1, attribution_std: 1, entropy_mean: 0.5 }, { step: 3, attribution_std: 3, entropy_mean: 0.2 }, { step: 2, attribution_std: 2, entropy_mean: 0.4 }]);
    expect(runExtras(d)).toEqual({ var_C: (1 + 9 + 4) / 3, entropy_final: 0.2 });
    const none = metricsDir("b", [{ step: 1, entropy_mean: 0.5 }]);
    expect(runExtras(none).var_C).toBeNaN();
  });

  it("summarises per cell with the paired difference from the baseline, leaving out what a run lacks", () => {
    const runs = [
      { cell: "segment=entropy", seed: 0, extras: { var_C: 1, entropy_final: 0.3 } },
      { cell: "segment=entropy", seed: 1, extras: { var_C: 3, entropy_final: 0.3 } },
      { cell: "segment=none", seed: 0, extras: { var_C: 2, entropy_final: NaN } },
      { cell: "segment=none", seed: 1, extras: { var_C: 5, entropy_final: 0.1 } },
    ];
    const s = summarizeExtras(runs, ["segment=entropy", "segment=none"], [0, 1]);
    expect(s.keys.map((k) => k.key)).toEqual(["var_C"]);
    expect(s.rows[0]!.values.var_C!.mean).toBe(2);
    expect(s.rows[0]!.values.var_C!.diff).toBeNull();
    // Paired differences 1 and 2: mean 1.5, sd 0.7071, t(0.975, 1) = 12.706 -> half-width 6.353.
    const d = s.rows[1]!.values.var_C!.diff!;
    expect(d.estimate).toBe(1.5);
    expect(d.high - d.estimate).toBeCloseTo(12.7062047 * 0.5, 4);
    const text = formatExtras(s).split("\n");
    expect(text[0]).toMatch(/^cell\s+var\(C\), mean over steps \(mean ± sd\)\s+Δ vs segment=entropy \[95 % CI\]$/);
    expect(text[3]).toMatch(/^segment=none\s+3\.5 ± 2\.121\s+\+1\.5 \[-4\.853, \+7\.853\]$/);
  });
});

describe("sweep mean curves", () => {
  it("averages the seeds that have a value at each step", () => {
    const a = new Map([[1, 1], [2, 3]]);
    const b = new Map([[1, 3]]);
    expect(meanCurve([a, b], [1, 2, 3])).toEqual([2, 3, null]);
  });

  it("draws each cell's mean thick and its seeds thin, evaluation first", () => {
    const run = (h: number[], acc: number): RunData => ({ name: "r", dir: "d", metrics: h.map((v, i) => ({ step: i + 1, entropy_mean: v })), evals: [{ step: 0, split: "test", metrics: { "acc@2": 0.1 } }, { step: 2, split: "test", metrics: { "acc@2": acc } }], samples: [], config: null, problems: [] });
    const charts = cellCurves([{ cell: "switch=1", runs: [{ seed: 0, run: run([0.4, 0.2], 0.5) }, { seed: 1, run: run([0.6, 0.4], 0.3) }] }]);
    expect(charts.map((c) => c.id)).toEqual(["sweep-eval-test-acc@2", "sweep-entropy_mean"]);
    const h = charts[1]!;
    expect(h.x).toEqual([1, 2]);
    expect(h.series.map((s) => [s.label, s.width, s.alpha])).toEqual([["switch=1 (mean of 2)", 2.5, 1], ["switch=1 seed 0", 1, 0.3], ["switch=1 seed 1", 1, 0.3]]);
    expect(h.series[0]!.values[0]).toBeCloseTo(0.5, 12);
    expect(h.series[0]!.values[1]).toBeCloseTo(0.3, 12);
    expect(charts[0]!.series[0]!.values).toEqual([0.1, 0.4]);
  });
});

describe("block axes", () => {
  it("segment and attribution cells become child pipelines that replace the block", () => {
    const cells = baselineFirst(gridCells(parseGrid(["segment=entropy,fixed:8,none", "alpha=0,1"], [])), "alpha=1,segment=none");
    expect(cells[0]).toEqual({ label: "segment=none alpha=1", set: ["alpha=1"], blocks: [{ name: "segment", value: "none" }] });
    expect(cellDirName(cells[0]!)).toBe("segment=none,alpha=1");
    const parentFile = join(process.cwd(), "examples", "acpo.acpo");
    const parent = loadPipeline(parentFile).pipeline!;
    const childPath = join(process.cwd(), "examples", "cells", "x.acpo");
    const fixed = cells.find((c) => c.label === "segment=fixed:8 alpha=0")!;
    const src = cellSource(fixed, parentFile, parent)!;
    expect(src).toContain(`pipeline acpo_segment_fixed_8 extends ${JSON.stringify(parentFile)} {\n  segment fixed { length 8 }\n}\n`);
    const child = loadPipeline(childPath, { text: src, set: fixed.set });
    expect(child.pipeline!.segment).toEqual({ kind: "fixed", length: 8 });
    expect(child.pipeline!.attribution).toEqual(parent.attribution);
    // The file already segments by entropy: that cell keeps its block.
    const entropy = cells.find((c) => c.label === "segment=entropy alpha=0")!;
    const same = loadPipeline(childPath, { text: cellSource(entropy, parentFile, parent)! });
    expect(same.pipeline!.segment).toEqual(parent.segment);
    const ppl = gridCells(parseGrid(["attribution=perplexity"], []))[0]!;
    expect(loadPipeline(childPath, { text: cellSource(ppl, parentFile, parent)! }).pipeline!.attribution).toMatchObject({ measure: "perplexity", judge: { kind: "policy" } });
  });

  it.each([
    ["segment=entropy,sentence", "--grid segment=entropy,sentence: 'sentence' is not a segment kind; use entropy, newline, fixed, fixed:N (N tokens a step) or none"],
    ["segment=fixed:0", "--grid segment=fixed:0: 'fixed:0' is not a segment kind; use entropy, newline, fixed, fixed:N (N tokens a step) or none"],
    ["attribution=kl", "--grid attribution=kl: 'kl' is not an attribution kind; use loglik or perplexity"],
  ])("refuses --grid %s", (spec, message) => {
    expect(() => parseGrid([spec], [])).toThrow(message);
  });
});
