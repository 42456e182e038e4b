// samples.jsonl lines the trajectory viewer cannot show (a `tokens` that is not an array, a
// `step_starts` out of range, ...) used to reach the page and stop its script, while
// `acpo report` exited 0. Now the loader checks each line: a bad one is left out and
// reported as file:line: what is wrong (on stderr and on the page); the rest is kept.
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportData } from "../../runtime/loop/report/html.js";
import { MAX_RUN_LINE_BYTES, RunDirError, loadRun } from "../../runtime/loop/report/load.js";
import { sampleProblem } from "../../runtime/loop/report/sample-check.js";
import { viewSamples } from "../../runtime/loop/report/samples.js";
import { writeSyntheticRun, writeTokenizerFolder } from "./synthetic-runs.js";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "acpo-bad-samples-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A sample the viewer can show: 5 tokens, two steps.
const good = { group: 0, reward: 1, correct: true, tokens: [3, 4, 5, 6, 7], entropy: [0.1, 0.2, null, 0.4, 0.5], old_entropy: [1, 1, 1, 1, 1], step_starts: [0, 3], C: [0.5, null], w: [1, 1], step_entropy: [0.1, 0.2], step: 5, stage: "explore", prompt: "p", text: "t", answer: null, reason: "r" };

/** This Node's message for JSON.parse(text). */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${text} parses`);
}

/** Every case: a change to the good sample, and what the loader says about it. */
export const BAD_SAMPLES: [string, Record<string, unknown>, string][] = [
  ["tokens not an array", { tokens: "3 4 5" }, "field 'tokens' must be a non-empty array of token ids, got \"3 4 5\""],
  ["tokens missing", { tokens: undefined }, "field 'tokens' must be a non-empty array of token ids, got null"],
  ["tokens empty", { tokens: [] }, "field 'tokens' must be a non-empty array of token ids, got []"],
  ["a token id that is a string", { tokens: [3, "4", 5, 6, 7] }, "field 'tokens': entry 1 is \"4\", not a token id (a non-negative integer)"],
  ["a negative token id", { tokens: [3, 4, -5, 6, 7] }, "field 'tokens': entry 2 is -5, not a token id (a non-negative integer)"],
  ["step_starts out of range", { step_starts: [0, 9] }, "field 'step_starts': entry 1 is 9, out of range for a response of 5 tokens"],
  ["step_starts of 10^9", { step_starts: [0, 1e9] }, "field 'step_starts': entry 1 is 1000000000, out of range for a response of 5 tokens"],
  ["step_starts negative", { step_starts: [-2, 3] }, "field 'step_starts' must begin with 0 (the first step starts at the first token), got [-2,3]"],
  ["step_starts not increasing", { step_starts: [0, 3, 3] }, "field 'step_starts' must be strictly increasing, got [0,3,3]"],
  ["step_starts not an array", { step_starts: 0 }, "field 'step_starts' must be a non-empty array of token positions, got 0"],
  ["step_starts with a fraction", { step_starts: [0, 1.5] }, "field 'step_starts' must be a non-empty array of token positions, got [0,1.5]"],
  ["entropy of the wrong length", { entropy: [0.1, 0.2] }, "field 'entropy' must be 5 numbers (one per token), got [0.1,0.2]"],
  ["old_entropy with a string", { old_entropy: [1, 1, "x", 1, 1] }, "field 'old_entropy' must be 5 numbers (one per token), got [1,1,\"x\",1,1]"],
  ["C with one entry for two steps", { C: [0.5] }, "field 'C' must be 2 numbers (one per step), got [0.5]"],
  ["w not an array", { w: 1 }, "field 'w' must be 2 numbers (one per step), got 1"],
  ["step_entropy for three steps", { step_entropy: [1, 2, 3] }, "field 'step_entropy' must be 2 numbers (one per step), got [1,2,3]"],
  ["a string step", { step: "5" }, "field 'step' must be an integer, got \"5\""],
  ["a negative group", { group: -1 }, "field 'group' must be a non-negative integer, got -1"],
  ["a string reward", { reward: "1" }, "field 'reward' must be a number, got \"1\""],
  ["correct as a string", { correct: "yes" }, "field 'correct' must be true or false, got \"yes\""],
  ["text as an object", { text: { a: 1 } }, "field 'text' must be a string, got {\"a\":1}"],
  ["a long bad value, shortened", { prompt: Array.from({ length: 50 }, (_, i) => i) }, "field 'prompt' must be a string, got [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,1..."],
];

describe("samples the viewer cannot show", () => {
  it("accepts the good sample, and the loop's optional fields left out", () => {
    expect(sampleProblem(good)).toBeNull();
    expect(sampleProblem({ tokens: [1] })).toBeNull();
    expect(sampleProblem({ ...good, C: null, reward: null, correct: null })).toBeNull();
  });

  it.each(BAD_SAMPLES)("%s", (_what, change, problem) => {
    expect(sampleProblem({ ...good, ...change })).toBe(problem);
  });

  it("loads a run with every bad line left out and reported by file:line; good lines and the rest of the run are kept", () => {
    const tok = writeTokenizerFolder(join(root, "model"));
    writeSyntheticRun(root, tok, { example: "acpo.acpo", seed: 1, steps: 10, switchAt: 5, evalEvery: 5, gain: 2, attribution: true, modelDir: join(root, "model") });
    const runDir = join(root, "acpo-s1-20250101-120000");
    const samplesFile = join(runDir, "samples.jsonl");
    const goodLines = readFileSync(samplesFile, "utf8").trim().split("\n").length;
    const bad = BAD_SAMPLES.map(([, change]) => JSON.stringify({ ...good, ...change }));
    appendFileSync(samplesFile, `${bad.join("\n")}\n{not json\n[1, 2]\n${JSON.stringify(good)}\n`);
    const r = loadRun(runDir);
    expect(r.samples.length).toBe(goodLines + 1);
    expect(r.problems).toEqual([
      ...BAD_SAMPLES.map(([, , problem], i) => `${samplesFile}:${goodLines + 1 + i}: ${problem}; line left out`),
      `${samplesFile}:${goodLines + BAD_SAMPLES.length + 1}: not valid JSON (${jsonError("{not json")}); line left out`,
      `${samplesFile}:${goodLines + BAD_SAMPLES.length + 2}: expected a JSON object; line left out`,
    ]);
    expect(r.metrics.length).toBe(10);
    const data = reportData([r], "t");
    expect(data.problems).toEqual(r.problems);
    expect(data.samples[0]!.samples.length).toBe(goodLines + 1);
    expect(viewSamples(r).samples.at(-1)).toMatchObject({ tokens: good.tokens, stepStarts: [0, 3], C: [0.5, null] });
  });

  it("acpo report warns on stderr, writes the page with the rest, and exits 0", () => {
    const tok = writeTokenizerFolder(join(root, "model2"));
    const runDir = writeSyntheticRun(join(root, "cli"), tok, { example: "grpo.acpo", seed: 2, steps: 6, switchAt: null, evalEvery: 3, gain: 1, attribution: false, modelDir: join(root, "model2") });
    const samplesFile = join(runDir, "samples.jsonl");
    const n = readFileSync(samplesFile, "utf8").trim().split("\n").length;
    appendFileSync(samplesFile, `${JSON.stringify({ ...good, tokens: 7 })}\n${JSON.stringify({ ...good, step_starts: [0, 40] })}\n`);
    const out = join(root, "cli.html");
    const r = spawnSync(process.execPath, ["cli/acpo.js", "report", runDir, "-o", out], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      `acpo: warning: ${samplesFile}:${n + 1}: field 'tokens' must be a non-empty array of token ids, got 7; line left out\n` +
        `acpo: warning: ${samplesFile}:${n + 2}: field 'step_starts': entry 1 is 40, out of range for a response of 5 tokens; line left out\n`,
    );
    expect(r.stdout).toMatch(/^report: 1 run, \d+ charts, \d+ sampled responses \(2 sample lines left out, listed above and on the page\) -> /);
    const html = readFileSync(out, "utf8");
    expect(html).toContain(`${samplesFile}:${n + 2}: field 'step_starts': entry 1 is 40`);
    writeFileSync(samplesFile, ""); // an empty samples file is not a problem
    expect(loadRun(runDir).problems).toEqual([]);
  });
});

describe("run files the report cannot read", () => {
  it("refuses a run-file line over MAX_RUN_LINE_BYTES and a FIFO, by file(:line), without reading them whole", () => {
    const big = join(root, "big-line");
    mkdirSync(big);
    writeFileSync(join(big, "metrics.jsonl"), `${JSON.stringify({ step: 1 })}\n${JSON.stringify({ step: 2, pad: "x".repeat(MAX_RUN_LINE_BYTES) })}\n`);
    expect(() => loadRun(big)).toThrow(new RunDirError(`${join(big, "metrics.jsonl")}:2: line is longer than 16 MiB, the limit for one record; shorten or split it (is this a JSON-lines file?)`));
    const fifo = join(root, "fifo-run");
    mkdirSync(fifo);
    writeFileSync(join(fifo, "metrics.jsonl"), `${JSON.stringify({ step: 1 })}\n`);
    execFileSync("mkfifo", [join(fifo, "samples.jsonl")]);
    expect(() => loadRun(fifo)).toThrow(new RunDirError(`${join(fifo, "samples.jsonl")}: is a FIFO, not a regular file; write the records to a file and give its path`));
  });
});
