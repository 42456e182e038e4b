// What the follow-up experiments of issue 13 need from the language: `segment none` (the
// "no segmentation" cell of the segmentation ablation: the whole reasoning is one step, the
// answer its own) next to `segment fixed { length N }`, and a stage switch step that is a
// param (`until steps >= switch`), so `acpo sweep --grid switch=...` moves it.
import { describe, expect, it } from "vitest";
import { formatAll, loadPipeline, printPipeline } from "../../compiler/index.js";
import { lowerStagePrograms, paramValues } from "../../compiler/plan/artifact.js";
import { segmentRules } from "../../runtime/loop/rl/rollout.js";
import { segmentResponse } from "../../runtime/loop/rl/segment.js";
import { StageCondition } from "../../runtime/loop/rl/until.js";
import { at, check, withBody } from "./helpers.js";

const chars = (s: string) => [...s];

describe("segment none", () => {
  it("checks, prints and maps to the runtime's one-step rules", () => {
    const r = check(withBody("  segment none"));
    expect(formatAll(r)).toBe("");
    expect(r.pipeline!.segment).toEqual({ kind: "none" });
    expect(printPipeline(r.pipeline!)).toMatch(/\n *segment none\n/);
    const again = loadPipeline(r.pipeline!.file, { text: printPipeline(r.pipeline!) });
    expect(again.pipeline!.segment).toEqual({ kind: "none" });
    expect(segmentRules(r.pipeline!.segment)).toEqual({ kind: "none" });
  });

  it("keeps the reasoning as one step and the answer as its own", () => {
    const text = "First, 7*3=21. Then, 21+4=25. <answer>7*3+4</answer>";
    const s = segmentResponse(chars(text), null, { kind: "none" });
    const answerAt = text.indexOf("<answer>");
    expect(s.boundaries).toEqual([0, answerAt, text.length]);
    expect(s.reasoningSteps).toBe(1);
  });

  it("refuses a setting inside its block, naming it", () => {
    const text = withBody("  segment none { length 4 }");
    const r = check(text);
    expect(r.pipeline).toBeUndefined();
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: "E0203", span: at(text, "length") });
    expect(r.diagnostics[0]!.message).toContain("segment none");
  });

  it("segment fixed { length 3 } cuts the reasoning every 3 tokens", () => {
    const r = check(withBody("  segment fixed { length 3 }"));
    expect(r.pipeline!.segment).toEqual({ kind: "fixed", length: 3 });
    const s = segmentResponse(chars("abcdefgh<answer>1</answer>"), null, segmentRules(r.pipeline!.segment)!);
    expect(s.boundaries).toEqual([0, 3, 6, 8, 26]);
    expect(s.reasoningSteps).toBe(3);
  });
});

describe("a stage switch step that is a param", () => {
  const source = withBody("  param switch = 5 in [1, 1000]\n  stage explore until steps >= switch { kl 0 }\n  stage converge until total_steps >= 20 then end { kl 0 }", { stage: false });
  const holdsAt = (set: string[] | undefined, steps: number[]) => {
    const r = check(source, "test/compiler/inline.acpo", set);
    if (!r.pipeline) throw new Error(formatAll(r));
    const p = r.pipeline;
    const cond = new StageCondition(lowerStagePrograms(p, p.stages[0]!).until, paramValues(p));
    return steps.map((s) => cond.holds([], { steps: s, totalSteps: s }));
  };

  it("switches at the param's value, and --set moves it", () => {
    expect(holdsAt(undefined, [4, 5, 6])).toEqual([false, true, true]);
    expect(holdsAt(["switch=15"], [14, 15])).toEqual([false, true]);
  });

  it("a --set value outside the param's range is refused by the checker", () => {
    const r = check(source, "test/compiler/inline.acpo", ["switch=0"]);
    expect(r.pipeline).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E0401"]);
  });
});
