// Step scores from a judge model (issue 15, a generative process reward model): the `judge`
// block and the step-level `judge_score`; examples/prm_judge.acpo's advantage
// A + lambda (judge_score - mean over the response's steps) on a hand-made batch against the
// formula, in the interpreter and the kernels; recorded batches (judge_score per step); the
// checker's rules with positions; canonical text; the verl export's refusal.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { formatAll, loadPipeline, pipelineJson } from "../../../compiler/index.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { BatchError, readBatchFile } from "../../../compiler/plan/batch-file.js";
import { loadPlan, writePlan } from "../../../compiler/plan/plan.js";
import { replay } from "../../../compiler/plan/replay.js";
import { JUDGE_KEYS } from "../../../compiler/checker/judge.js";
import { BLOCK_KEYS } from "../../../compiler/lsp/settings-table.js";
import { printPipeline } from "../../../compiler/print.js";
import { ExportRefused, planExport } from "../../../export/verl/index.js";
import { expectClose } from "../../helpers/numeric.js";
import { at, check, meaning, reprinted, withBody } from "../helpers.js";
import { onGpu, responseValues } from "./hand-batch.js";

interface Resp {
  reward: number;
  /** Tokens per step. */
  steps: number[];
  /** The judge's verdict log-probability after each step. */
  J: number[];
}

/** One group of responses with steps and judge scores; on-policy. */
function judgeBatch(rs: Resp[]): Batch {
  const B = rs.length;
  const lens = rs.map((r) => r.steps.reduce((a, x) => a + x, 0));
  const T = Math.max(...lens), S = Math.max(...rs.map((r) => r.steps.length)), N = B * T;
  const stepIdx = new Int32Array(N).fill(-1);
  const f = () => new Float64Array(B * S);
  const stepLength = f(), judgeScore = f();
  const logp = new Float64Array(N).fill(-1);
  rs.forEach((r, i) => {
    let t = 0;
    r.steps.forEach((len, k) => {
      stepLength[i * S + k] = len;
      judgeScore[i * S + k] = r.J[k]!;
      for (let u = 0; u < len; u++, t++) stepIdx[i * T + t] = k;
    });
  });
  return {
    B, T, S, nGroups: 1, group: new Int32Array(B), reward: Float64Array.from(rs, (r) => r.reward), correct: Float64Array.from(rs, (r) => +(r.reward > 0)),
    format: new Float64Array(B).fill(1), length: Float64Array.from(lens), stepIdx, ids: new Int32Array(N), oldLogp: logp.slice(), refLogp: null,
    C: f(), stepLength, stepEntropy: f(), judgeScore, V: 0, temperature: 1, logits: null, logp, H: new Float64Array(N), steps: 0, totalSteps: 0, seed: 0,
  };
}

describe("examples/prm_judge.acpo", () => {
  it("advantage per step = A + lambda (judge_score - the response's mean judge_score), in the interpreter and the kernels", async () => {
    const p = loadPipeline("examples/prm_judge.acpo").pipeline!;
    const lambda = p.params.find((q) => q.name === "lambda")!.value;
    const eps = p.params.find((q) => q.name === "eps")!.value;
    const rs: Resp[] = [
      { reward: 1, steps: [2, 3, 1], J: [-1, -2.5, -0.5] },
      { reward: 0, steps: [2, 2], J: [-3, -1] },
      { reward: 0, steps: [3], J: [-0.25] }, // one step: its own mean, no process term
    ];
    const mean = 1 / 3, std = Math.sqrt(((1 - mean) ** 2 + 2 * mean ** 2) / 3);
    const A = rs.map((r) => (r.reward - mean) / (std + eps));
    const want = rs.flatMap((r, i) => {
      const m = r.J.reduce((a, x) => a + x, 0) / r.J.length;
      return r.steps.flatMap((len, k) => new Array<number>(len).fill(A[i]! + lambda * (r.J[k]! - m)));
    });
    // Hand values: response 0's mean is -4/3, so its steps get +1/3, -7/6 and +5/6 times lambda.
    expect(want[0]).toBeCloseTo(A[0]! + lambda / 3, 12);
    expect(want[2]).toBeCloseTo(A[0]! - (7 / 6) * lambda, 12);
    expect(want.slice(-3)).toEqual([A[2], A[2], A[2]]);
    const b = judgeBatch(rs);
    const r = await onGpu(p, b, "prm_judge");
    expectClose(responseValues(b, r.tokens.advantage), want, 1e-9, 1e-9, "advantage");
  });
});

describe("examples/prm_judge.acpo compiled to a plan", () => {
  it("keeps the judge block: the loaded plan's pipeline has the same judge and reads judge_score", () => {
    const p = loadPipeline("examples/prm_judge.acpo").pipeline!;
    const dir = join(mkdtempSync(join(tmpdir(), "acpo-judge-plan-")), "plan");
    writePlan(dir, p);
    const plan = loadPlan(dir);
    expect(plan.pipeline.judge).toEqual({ model: resolve("models/countdown-tiny"), question: "\nCheck: ", verdict: "ok", against: "no" });
    expect(plan.programs.get("train")).toBeDefined();
  });
});

describe("judge scores in recorded batches", () => {
  it("judge_score per step; replay refuses a batch without it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-judge-"));
    const line = (reward: number, extra: object) => JSON.stringify({ group: 0, reward, tokens: [1, 2, 3], old_logp: [-1, -1, -1], logp: [-1, -1, -1], entropy: [1, 1, 1], step_starts: [0, 2], ...extra });
    const f = join(dir, "samples.jsonl");
    writeFileSync(f, [line(1, { judge_score: [-0.5, -2] }), line(0, { judge_score: [-1, -3] })].join("\n") + "\n");
    const file = readBatchFile(f);
    expect(file.has.judge).toBe(true);
    expect(Array.from(file.batch.judgeScore!)).toEqual([-0.5, -2, -1, -3]);
    const p = loadPipeline("examples/prm_judge.acpo").pipeline!;
    await expect(replay(p, undefined, file, f)).resolves.toBeDefined();
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, line(0, { judge_score: [-1] }) + "\n");
    expect(() => readBatchFile(bad)).toThrow(`${bad}:1.judge_score: expected 2 numbers (one per step), found 1`);
    const none = join(dir, "none.jsonl");
    writeFileSync(none, [line(1, { judge_score: [-1, -1] }), line(0, {})].join("\n") + "\n");
    const nf = readBatchFile(none);
    expect(nf.has.judge).toBe(false);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(BatchError);
    await expect(replay(p, undefined, nf, none)).rejects.toThrow(`${none}: the pipeline uses the judge model's step scores (judge_score); every trajectory needs 'judge_score' (one per step)`);
  });
});

describe("checker: the judge block and judge_score", () => {
  const JUDGE = '  judge { model "../models/countdown-tiny"  verdict " correct" }\n';
  const SEGMENT = "  segment newline { min_gap 1 }\n";

  it("reads model (relative to the file), question (default empty) and verdict; prints them back", () => {
    const text = withBody(`${SEGMENT}${JUDGE}  let s = judge_score`);
    const r = check(text, "examples/inline.acpo");
    expect(r.diagnostics).toEqual([]);
    const p = r.pipeline!;
    expect(p.judge).toEqual({ model: resolve("models/countdown-tiny"), question: "", verdict: " correct" });
    expect(p.lets[0]!.level).toBe("step");
    expect(pipelineJson(p).judge).toEqual(p.judge);
    const again = reprinted(p);
    expect(again.diagnostics).toEqual([]);
    expect(meaning(again.pipeline!)).toEqual(meaning(p));
    // Escapes survive printing: the example's question holds a newline.
    const ex = loadPipeline("examples/prm_judge.acpo").pipeline!;
    expect(ex.judge!.question).toBe("\nCheck: ");
    expect(meaning(reprinted(ex).pipeline!)).toEqual(meaning(ex));
    // A pipeline without a judge records none.
    expect(loadPipeline("examples/grpo.acpo").pipeline!).not.toHaveProperty("judge");
    expect(pipelineJson(loadPipeline("examples/grpo.acpo").pipeline!)).not.toHaveProperty("judge");
  });

  it("against: the verdict's alternative, recorded only when written; prints back; the LSP offers it", () => {
    const text = withBody(`${SEGMENT}  judge { model "../models/countdown-tiny"  verdict " Yes"  against " No" }\n  let s = judge_score`);
    const r = check(text, "examples/inline.acpo");
    expect(r.diagnostics).toEqual([]);
    const p = r.pipeline!;
    expect(p.judge).toEqual({ model: resolve("models/countdown-tiny"), question: "", verdict: " Yes", against: " No" });
    expect(pipelineJson(p).judge).toEqual(p.judge);
    expect(printPipeline(p)).toContain('judge { model "' + resolve("models/countdown-tiny") + '"  question ""  verdict " Yes"  against " No" }');
    const again = reprinted(p);
    expect(again.diagnostics).toEqual([]);
    expect(again.pipeline!.judge).toEqual(p.judge);
    expect(meaning(again.pipeline!)).toEqual(meaning(p));
    // The single verdict has no `against` in its record or its text.
    const single = check(withBody(`${SEGMENT}${JUDGE}`), "examples/inline.acpo").pipeline!;
    expect(single.judge).not.toHaveProperty("against");
    expect(printPipeline(single)).not.toContain("against");
    expect(BLOCK_KEYS.judge).toEqual([...JUDGE_KEYS]);
    expect(BLOCK_KEYS.judge).toContain("against");
  });

  it("an alternative equal to the verdict, as `acpo check` prints it: file:line:col, caret under the value, the hint", () => {
    const text = withBody(`${SEGMENT}  judge { model "m"  verdict " Yes"  against " Yes" }\n`);
    const r = check(text, "test/compiler/same-verdict.acpo");
    const { line, col } = at(text, '" Yes" }');
    const pad = " ".repeat(String(line).length); // the gutter is as wide as the line number
    expect(formatAll(r).split("\n")).toEqual([
      `test/compiler/same-verdict.acpo:${line}:${col}: error[E0401]: \`against\` is the verdict itself (" Yes"): name its alternative`,
      `${pad} |`,
      `${line} |   judge { model "m"  verdict " Yes"  against " Yes" }`,
      `${pad} | ${" ".repeat(col - 1)}^^^^^^`,
      '  = e.g. verdict " Yes"  against " No"',
    ]);
  });

  it.each([
    ["without a judge block", SEGMENT, 'add e.g. judge { model "../models/countdown-tiny"  verdict " correct" }'],
    ["without segment", JUDGE, "add e.g. segment newline { min_gap 1 }"],
  ])("judge_score %s: E0404 at the name, with a hint", (_what, items, hint) => {
    const text = withBody(`${items}  let s = judge_score`);
    const d = check(text).diagnostics.filter((x) => x.code === "E0404" && x.message.startsWith("`judge_score`"));
    expect(d.map((x) => ({ message: x.message, hint: x.hint, line: x.span!.line, col: x.span!.col }))).toEqual([
      { message: "`judge_score` is a judge model's score per step; it needs `segment` and a `judge` block", hint, ...at(text, "judge_score") },
    ]);
  });

  it.each([
    ["judge without segment", "E0404", JUDGE, "the judge scores reasoning steps, but the pipeline has no `segment` rule", "judge {"],
    ["an empty verdict", "E0401", `${SEGMENT}  judge { model "m"  verdict "" }\n`, "`verdict` must not be empty: judge_score is the log-probability of its tokens", '""'],
    ["no verdict", "E0403", `${SEGMENT}  judge { model "m" }\n`, "`judge` needs `verdict`", "{ model"],
    ["no model", "E0403", `${SEGMENT}  judge { verdict "ok" }\n`, "`judge` needs `model`", "{ verdict"],
    ["an empty model", "E0401", `${SEGMENT}  judge { model ""  verdict "ok" }\n`, "`model` must name the judge's model folder", '""'],
    ["a number as verdict", "E0402", `${SEGMENT}  judge { model "m"  verdict 7 }\n`, "`verdict` takes a string in double quotes", "7 }"],
    ["an unknown key", "E0203", `${SEGMENT}  judge { model "m"  verdict "ok"  temperature 1 }\n`, "unknown setting `temperature` in `judge`", "temperature 1 }"],
    ["a kind word", "E0402", `${SEGMENT}  judge prm { model "m"  verdict "ok" }\n`, '`judge` takes a block only: judge { model "DIR"  verdict " correct" }', "prm"],
    ["an empty against", "E0401", `${SEGMENT}  judge { model "m"  verdict "ok"  against "" }\n`, "`against` must not be empty: judge_score normalises the verdict's probability against this alternative's", '""'],
    ["against equal to the verdict", "E0401", `${SEGMENT}  judge { model "m"  verdict " Yes"  against " Yes" }\n`, '`against` is the verdict itself (" Yes"): name its alternative', '" Yes" }'],
    ["a number as against", "E0402", `${SEGMENT}  judge { model "m"  verdict "ok"  against 42 }\n`, "`against` takes a string in double quotes", "42 }"],
    ["a long against", "E0401", `${SEGMENT}  judge { model "m"  verdict "ok"  against "${"x".repeat(4097)}" }\n`, "`against` has 4097 characters; at most 4096", '"xxx'],
    ["a long question", "E0401", `${SEGMENT}  judge { model "m"  question "${"x".repeat(4097)}"  verdict "ok" }\n`, "`question` has 4097 characters; at most 4096", '"xxx'],
  ])("%s: %s at its place", (_what, code, items, message, needle) => {
    const text = withBody(items);
    const d = check(text).diagnostics;
    expect(d.map((x) => ({ code: x.code, message: x.message, line: x.span!.line, col: x.span!.col }))).toEqual([{ code, message, ...at(text, needle) }]);
  });
});

describe("acpo export verl", () => {
  it("refuses examples/prm_judge.acpo with the reason", () => {
    let reasons: string[] = [];
    try {
      planExport(loadPipeline("examples/prm_judge.acpo").pipeline!);
    } catch (e) {
      if (!(e instanceof ExportRefused)) throw e;
      reasons = e.reasons;
    }
    expect(reasons).toContain("the advantage reads `judge_score`: a judge model's verdict scores per step, which neither verl's reward manager nor the ACPO trainer subclass computes (they need the judge model run on every step prefix)");
  });
});
