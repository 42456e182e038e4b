// plannedSteps: the run length a pipeline's stages give when no --steps is passed (a cosine
// or linear learning-rate decay needs it). Its meaning must match the loop's: a stage ends
// after the first step at which its `until` holds, counting its own steps (`steps`) or the
// run's (`total_steps`).
import { describe, expect, it } from "vitest";
import { resolve } from "node:path";
import { loadPipeline } from "../../compiler/index.js";
import { plannedSteps } from "../../compiler/plan/artifact.js";

const ACPO = resolve("examples", "acpo.acpo");

function planned(stages: string, set: string[] = []): number | null {
  const text = `pipeline t extends ${JSON.stringify(ACPO)} {\n  param switch = 30 in [1, 1000]\n${stages}\n}\n`;
  const r = loadPipeline(resolve("examples", "t.acpo"), { text, set });
  expect(r.diagnostics.filter((d) => d.severity !== "warning")).toEqual([]);
  return plannedSteps(r.pipeline!);
}

describe("plannedSteps", () => {
  it("sums each stage's own step count (the example: 167 + 33)", () => {
    expect(plannedSteps(loadPipeline(ACPO).pipeline!)).toBe(200);
    expect(planned("  stage explore until steps > 9 { }\n  stage converge until steps == 5 { }")).toBe(15);
  });

  it("reads a param as the count, with --set applied", () => {
    expect(planned("  stage explore until steps >= switch { }")).toBe(63); // 30 + the example's converge 33
    expect(planned("  stage explore until steps >= switch { }", ["switch=90"])).toBe(123);
  });

  it("ends a total_steps stage when the run has taken that many steps in all", () => {
    expect(planned("  stage explore until steps >= switch { }\n  stage converge until total_steps >= 120 { }")).toBe(120);
    expect(planned("  stage explore until steps >= switch { }\n  stage converge until total_steps >= 120 { }", ["switch=108"])).toBe(120);
    // Already past the total when the stage begins: it still runs its one step.
    expect(planned("  stage explore until steps >= switch { }\n  stage converge until total_steps >= 10 { }")).toBe(31);
  });

  it("is null when a stage ends on anything but a step count", () => {
    expect(planned("  stage explore until mean(H over batch) < 0.2 { }")).toBeNull();
    expect(planned("  stage explore until steps >= 10 or mean(H over batch) < 0.2 { }")).toBeNull();
    expect(planned("  stage explore until steps >= 10 or steps >= 4 { }")).toBe(37); // 4 + the example's converge 33
  });
});
