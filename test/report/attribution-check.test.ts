// `acpo attribution-check`: the ground truth of countdown steps replayed on the prompt's
// numbers, and the command on a constructed run directory whose C and truth are known, so
// the printed ρ can be checked against a hand computation.
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countdownOfPrompt, stepTruths } from "../../runtime/loop/report/attribution-truth.js";
import { TextTokenizer } from "../../runtime/engine/model/tokenizer.js";
import { spearman } from "../../runtime/loop/report/rank-stats.js";

const MODEL = resolve("models", "countdown-tiny");
const prompt = (nums: number[], target: number) => `Use ${nums.join(" ")} once each with + - * / to make ${target}. Show steps, then <answer>equation</answer>.\n`;

describe("countdown step truth", () => {
  it("reads the prompt's numbers and target", () => {
    expect(countdownOfPrompt(prompt([7, 3, 4], 25))).toEqual({ numbers: [7, 3, 4], target: 25 });
    expect(countdownOfPrompt("What is 2+2?")).toBeNull();
  });

  it.each([
    ["a clean solution: every step on path", ["First, 7*3=21. ", "Then, 21+4=25. ", "So, <answer>7*3+4</answer>"], [[true, false], [true, false], [null, false]]],
    ["a slip in the first step (8 is not in the prompt): misread there, off path from there", ["First, 8*3=24. ", "Then, 24+4=28. ", "So, <answer>8*3+4</answer>"], [[false, true], [false, false], [null, false]]],
    ["a slip in the second step", ["First, 7*3=21. ", "Then, 21+5=26. ", "<answer>7*3+5</answer>"], [[true, false], [false, true], [null, false]]],
    ["a valid step that leaves the target unreachable is off path, not misread", ["First, 7+3=10. ", "Then, 10+4=14. "], [[false, false], [false, false]]],
    ["a miscomputed step is off path, not misread", ["First, 7*3=22. ", "Then, 22+4=26. "], [[false, false], [false, false]]],
    ["a number used twice is a misread", ["First, 7*7=49. ", "Then, 49-4=45. "], [[false, true], [false, false]]],
  ])("%s", (_, texts, want) => {
    const t = stepTruths({ numbers: [7, 3, 4], target: 25 }, texts);
    expect(t.map((s) => [s.onPath, s.misread])).toEqual(want);
  });
});

describe("acpo attribution-check on a constructed run", () => {
  let dir: string;
  // Four responses to 7 3 4 -> 25, their steps and C (the answer step's C is 0, as the loop pads it).
  const responses = [
    { steps: ["First, 7*3=21. ", "Then, 21+4=25. ", "So, <answer>7*3+4</answer>"], C: [2.0, 1.5, 0] },
    { steps: ["First, 8*3=24. ", "Then, 24+4=28. ", "So, <answer>8*3+4</answer>"], C: [-0.5, 0.3, 0] },
    { steps: ["First, 7+3=10. ", "Then, 10+4=14. ", "So, <answer>7+3+4</answer>"], C: [0.1, -0.2, 0] },
    { steps: ["First, 7*3=21. ", "Then, 21+5=26. ", "So, <answer>7*3+5</answer>"], C: [1.0, 0.7, 0] },
  ];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "acpo-attr-check-"));
    const run = join(dir, "run");
    mkdirSync(run);
    const tok = new TextTokenizer(JSON.parse(readFileSync(join(MODEL, "tokenizer.json"), "utf8")) as Record<string, unknown>, JSON.parse(readFileSync(join(MODEL, "tokenizer_config.json"), "utf8")) as Record<string, unknown>);
    const lines = responses.map((r, i) => {
      const ids = r.steps.map((s) => tok.encode(s));
      const starts = ids.map((_, k) => ids.slice(0, k).reduce((a, x) => a + x.length, 0));
      const tokens = ids.flat();
      return { group: 0, reward: i === 0 ? 1 : 0, correct: i === 0, tokens, step_starts: starts, C: r.C, step: 1, stage: "train", problem: "countdown:x", prompt: prompt([7, 3, 4], 25), text: r.steps.join(""), answer: null, reason: "" };
    });
    writeFileSync(join(run, "samples.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
    writeFileSync(join(run, "metrics.jsonl"), `${JSON.stringify({ step: 1, stage: "train" })}\n`);
    writeFileSync(join(run, "config.resolved.json"), JSON.stringify({ seed: 0, pipeline: { name: "t", model: MODEL, segment: { kind: "newline", min_gap: 1 }, attribution: { measure: "perplexity", judge: { kind: "policy" } } } }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints ρ for both checks as computed by hand and writes the report and its JSON", () => {
    const run = join(dir, "run");
    const out = execFileSync("node", ["cli/acpo.js", "attribution-check", run, "--bootstrap", "200"], { encoding: "utf8", stdio: "pipe" });
    // On path: steps (C, truth) = (2,1) (1.5,1) (-.5,0) (.3,0) (.1,0) (-.2,0) (1,1) (.7,0).
    const onPath = spearman([2, 1.5, -0.5, 0.3, 0.1, -0.2, 1, 0.7], [1, 1, 0, 0, 0, 0, 1, 0]);
    // Misread: responses 2 and 4 only: (-.5,1) (.3,0) (1,0) (.7,1).
    const misread = spearman([-0.5, 0.3, 1, 0.7], [1, 0, 0, 1]);
    const rows = JSON.parse(readFileSync(join(run, "attribution-check.json"), "utf8")) as { check: string; steps: number; responses: number; positives: number; rho: number; measure: string; segment: string; meanCPositive: number }[];
    expect(rows.map((r) => [r.check, r.measure, r.segment, r.steps, r.responses, r.positives])).toEqual([
      ["on path", "perplexity", "newline", 8, 4, 3],
      ["misread step", "perplexity", "newline", 4, 2, 2],
    ]);
    expect(rows[0]!.rho).toBeCloseTo(onPath, 12);
    expect(rows[1]!.rho).toBeCloseTo(misread, 12);
    expect(rows[0]!.meanCPositive).toBeCloseTo((2 + 1.5 + 1) / 3, 12);
    const line = out.split("\n").find((l) => l.startsWith("run ") && l.includes("on path"))!;
    expect(line).toMatch(new RegExp(`perplexity\\s+newline\\s+on path\\s+8\\s+4\\s+3\\s+${onPath.toFixed(3)}\\s+\\[`));
    expect(out).toContain(`report: ${join(run, "attribution-check.html")}`);
    const html = readFileSync(join(run, "attribution-check.html"), "utf8");
    expect(html).toContain('id="sections-data"');
    expect(html).toContain("run: C of on-path vs off-path steps");
  });

  it("refuses a run without samples, naming it", () => {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    writeFileSync(join(empty, "metrics.jsonl"), `${JSON.stringify({ step: 1 })}\n`);
    let err = "";
    try {
      execFileSync("node", ["cli/acpo.js", "attribution-check", empty], { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      err = (e as { stderr: string }).stderr;
    }
    expect(err.trim()).toBe(`acpo: error: ${empty}: no samples.jsonl lines; the check reads the recorded responses`);
  });
});
