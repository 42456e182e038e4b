// Step scores from a judge model in the runtime (runtime/loop/rl/judge.ts): where each step ends,
// the cached scoring against a float64 reference forward of prompt + prefix + question +
// verdict (runtime/engine/model/reference.ts), the same for the verdict normalised against its
// alternative (`against`, GenRM's form), the refusals (another tokenizer, too many positions,
// overlapping alternatives), and examples/prm_judge.acpo trained for 2 steps with
// models/countdown-tiny as its judge, whose samples.jsonl scores match a direct reference
// scoring and replay to the formula.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { interpretStage } from "../../compiler/interpret/stage.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { readBatchFile } from "../../compiler/plan/batch-file.js";
import { printPipeline } from "../../compiler/print.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights, presetConfig } from "../../runtime/engine/model/presets.js";
import { referenceLogprobs } from "../../runtime/engine/model/reference.js";
import { charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";
import { type JudgeInput, type JudgeText, judgeScores, StepJudge, judgeScoresExplicit, judgeText, loadJudge, normalisedScore, stepEnds } from "../../runtime/loop/rl/judge.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose } from "../helpers/numeric.js";

const TINY = resolve("models/countdown-tiny");

// |got - ref| <= 1e-5 + 1e-6 |ref|: the GPU forward is float32, whose rounding (relative ~4e-7
// per log-probability, measured up to 9.7e-6 absolute on scores near -23) makes a purely
// absolute 1e-5 a coin toss for long prefixes; the relative part admits only that.
const ATOL = 1e-5, RTOL = 1e-6;

/** log p(answer | prompt, response[0:end], question) by the float64 reference forward. */
function referenceLoglik(judge: Policy, t: JudgeInput, end: number, question: number[], answer: number[]): number {
  const seq = [...t.promptIds, ...t.responseIds.slice(0, end), ...question, ...answer];
  const { logprobs } = referenceLogprobs(judge.checkpoint.config, judge.checkpoint.weights, seq);
  const first = t.promptIds.length + end + question.length - 1;
  return answer.reduce((s, _, m) => s + logprobs[first + m]!, 0);
}

/** judge_score by the reference: log p(verdict), or log(p(verdict) / (p(verdict) + p(against))) written out in float64. */
function referenceScore(judge: Policy, t: JudgeInput, end: number, text: JudgeText): number {
  const v = referenceLoglik(judge, t, end, text.question, text.verdict);
  if (text.against === null) return v;
  const pv = Math.exp(v), pa = Math.exp(referenceLoglik(judge, t, end, text.question, text.against));
  return Math.log(pv / (pv + pa));
}

/** Two hand-made countdown trajectories under the tokenizer `tok`: three steps and two. */
function handTrajectories(tok: Policy["tokenizer"]): JudgeInput[] {
  const response = (s: string) => [...tok.encode(s), ...tok.eosIds.slice(0, 1)];
  const r0 = "First 3+5=8. Then 8*2=16.<answer>16</answer>", r1 = "First 9-4=5. So<answer>5</answer>";
  return [
    { promptIds: tok.promptIds("Use 3 5 2 to make 16."), responseIds: response(r0), starts: [0, r0.indexOf("Then"), r0.indexOf("<answer>")].map((c) => tok.encode(r0.slice(0, c)).length) },
    { promptIds: tok.promptIds("Use 9 4 to make 5."), responseIds: response(r1), starts: [0, tok.encode(r1.slice(0, r1.indexOf("<answer>"))).length] },
  ];
}

describe("judge step scores", () => {
  it("each step ends where the next starts; the last at the response's end, before its stop tokens", () => {
    const eos = new Set([2]);
    expect(stepEnds({ promptIds: [1], responseIds: [5, 6, 7, 8, 2], starts: [0, 2, 4] }, eos)).toEqual([2, 4, 4]);
    expect(stepEnds({ promptIds: [1], responseIds: [5, 6, 7], starts: [0, 1] }, eos)).toEqual([1, 3]); // cut at max_tokens: no stop token
    expect(stepEnds({ promptIds: [1], responseIds: [2], starts: [0] }, eos)).toEqual([0]); // an immediate stop: the prompt alone
  });

  it("judge_score = log p_judge(verdict | prompt, prefix, question) per step, equal to the reference forward to 1e-5", async () => {
    const gpu = await testGpu();
    const judge = Policy.load(gpu, TINY);
    const tok = judge.tokenizer;
    const text = judgeText(judge, { model: TINY, question: "\nCheck: ", verdict: "ok" });
    expect(text.verdict).toEqual(tok.encode("ok"));
    expect(text.question).toHaveLength(8);
    expect(text.against).toBeNull();
    const trajs = handTrajectories(tok);
    const stop = new Set(tok.eosIds);
    // Tight limits: the two trajectories prefill apart and the steps score in chunks of two.
    const got = await judgeScores(judge, trajs, text, stop, { maxRows: 2, maxTokens: 40 });
    const want = trajs.map((t) => stepEnds(t, stop).map((e) => referenceScore(judge, t, e, text)));
    expect(got.map((s) => s.length)).toEqual([3, 2]);
    expectClose(got.flat(), want.flat(), ATOL, RTOL, "judge_score (cached) vs reference");
    const explicit = await judgeScoresExplicit(judge, trajs, text, stop);
    expectClose(explicit.flat(), want.flat(), ATOL, RTOL, "judge_score (full forwards) vs reference");
    // A longer prefix changes the score: the steps are not scored alike.
    expect(new Set(got[0]!.map((x) => x.toFixed(4))).size).toBe(3);
    for (const x of got.flat()) expect(x).toBeLessThan(0);
  }, 120_000);

  it.each([
    ["verdict \"ok\" against \"no\" (two tokens each)", "ok", "no"],
    ["verdict \"ok\" against \"wrong\" (two tokens against five: the branches pad to the longer)", "ok", "wrong"],
  ])("with against, judge_score = log(p(v) / (p(v) + p(a))) per step, equal to the float64 reference: %s", async (_what, verdict, against) => {
    const gpu = await testGpu();
    const judge = Policy.load(gpu, TINY);
    const tok = judge.tokenizer;
    const text = judgeText(judge, { model: TINY, question: "\nCheck: ", verdict, against });
    expect(text.against).toEqual(tok.encode(against));
    const trajs = handTrajectories(tok);
    const stop = new Set(tok.eosIds);
    const want = trajs.map((t) => stepEnds(t, stop).map((e) => referenceScore(judge, t, e, text)));
    // Tight limits: the verdict's and the alternative's branches land in different chunks.
    const got = await judgeScores(judge, trajs, text, stop, { maxRows: 3, maxTokens: 60 });
    expect(got.map((s) => s.length)).toEqual([3, 2]);
    expectClose(got.flat(), want.flat(), ATOL, RTOL, "normalised judge_score (cached) vs reference");
    expectClose((await judgeScoresExplicit(judge, trajs, text, stop)).flat(), want.flat(), ATOL, RTOL, "normalised judge_score (full forwards) vs reference");
    // A log-probability of a two-way choice: <= 0, and the two orders' probabilities sum to 1.
    const swapped = await judgeScores(judge, trajs, { ...text, verdict: text.against!, against: text.verdict }, stop);
    got.flat().forEach((x, j) => {
      expect(x).toBeLessThanOrEqual(0);
      expect(Math.exp(x) + Math.exp(swapped.flat()[j]!)).toBeCloseTo(1, 6);
    });
    // Not the raw verdict log-probability: the normalisation moves every score.
    const raw = await judgeScores(judge, trajs, { ...text, against: null }, stop);
    raw.flat().forEach((x, j) => expect(got.flat()[j]!).toBeGreaterThan(x));
  }, 120_000);

  it("normalisedScore is log(p_v / (p_v + p_a)) without overflow at extreme log-probabilities", () => {
    expect(normalisedScore(Math.log(0.3), Math.log(0.1))).toBeCloseTo(Math.log(0.75), 14);
    expect(normalisedScore(-1000, -1000)).toBeCloseTo(Math.log(0.5), 14); // exp(-1000) underflows to 0 in a direct formula
    expect(normalisedScore(-1000, -1001)).toBeCloseTo(-Math.log1p(Math.exp(-1)), 14);
    expect(normalisedScore(0, -800)).toBeCloseTo(0, 15); // the judge is sure of the verdict
    expect(normalisedScore(-800, 0)).toBe(-800); // sure of the alternative: log p_v - log p_a, not -Infinity
  });

  it.each([
    ["the verdict's tokens begin against's", "ok", "okay", "the verdict \"ok\" and against \"okay\" overlap: the verdict's tokens [IDS_ok] begin the other's [IDS_okay]"],
    ["against's tokens begin the verdict's", "okay", "ok", "the verdict \"okay\" and against \"ok\" overlap: against's tokens [IDS_ok] begin the other's [IDS_okay]"],
  ])("refuses an alternative that is no alternative in the judge's tokens (%s), as the run opens", async (_what, verdict, against, because) => {
    const gpu = await testGpu();
    const judge = Policy.load(gpu, TINY);
    const ids = (s: string) => judge.tokenizer.encode(s).join(", ");
    const cfg = { model: TINY, question: "", verdict, against };
    const message = `judge ${TINY}: ${because.replace("IDS_okay", ids("okay")).replace("IDS_ok", ids("ok"))}, so they are not alternatives; name two answers that differ within their shorter one's tokens (e.g. " Yes" and " No")`;
    expect(() => judgeText(judge, cfg)).toThrow(message);
    expect(() => StepJudge.open(gpu, cfg, judge.tokenizer, 64)).toThrow(message);
  }, 60_000);

  it("refuses a judge whose tokenizer differs from the policy's, naming the first difference", async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), "acpo-judge-tok-"));
    const files = charTokenizerFiles(["Yes", "No"]);
    const config = presetConfig("tiny", 128, 1, [2]);
    saveCheckpoint(dir, { config, weights: initWeights(config, 0), tokenizer: files.tokenizer, tokenizerConfig: files.tokenizerConfig, generationConfig: {} });
    const policy = Policy.load(gpu, TINY);
    const other = Policy.load(gpu, dir);
    expect(() => loadJudge(gpu, { model: dir, question: "", verdict: "ok" }, policy.tokenizer)).toThrow(
      `judge ${dir}: its tokenizer differs from the policy's (${other.tokenizer.vocabSize} tokens, the policy's has ${policy.tokenizer.vocabSize}); the judge scores the policy's token ids, so name a judge trained with the policy's tokenizer`,
    );
    expect(loadJudge(gpu, { model: TINY, question: "", verdict: "ok" }, policy.tokenizer).tokenizer.vocabSize).toBe(policy.tokenizer.vocabSize);
    // In a run: refused as the run opens, before its run directory exists.
    const text = printPipeline(loadPipeline(resolve("examples/prm_judge.acpo")).pipeline!).replace(/judge \{ model "[^"]*"/, `judge { model "${dir}"`);
    const file = join(mkdtempSync(join(tmpdir(), "acpo-judge-bad-")), "bad_judge.acpo");
    writeFileSync(file, text);
    const out = join(mkdtempSync(join(tmpdir(), "acpo-judge-bad-run-")), "run");
    await expect(train({ pipelinePath: file, steps: 1, outDir: out, quiet: true, gpu })).rejects.toThrow(`judge ${dir}: its tokenizer differs from the policy's`);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it("refuses, before any work, a step whose prompt + response + question + verdict exceeds the judge's positions", async () => {
    const gpu = await testGpu();
    const judge = Policy.load(gpu, TINY); // max_position_embeddings 256
    const text = judgeText(judge, { model: TINY, question: "\nCheck: ", verdict: "ok" });
    const t: JudgeInput = { promptIds: [1, 5, 6], responseIds: new Array<number>(246).fill(5), starts: [0, 100] };
    await expect(judgeScores(judge, [t], text, new Set([2]))).rejects.toThrow(
      "judge: prompt (3 tokens) + response (246) + question (8) + verdict (2) needs 258 positions, but the judge model has 256 (max_position_embeddings); shorten the question or lower rollout max_tokens",
    );
    // As the run opens: a full response after a one-token prompt already does not fit.
    const cfg = { model: TINY, question: "\nCheck: ", verdict: "ok" };
    expect(() => StepJudge.open(gpu, cfg, judge.tokenizer, 247)).toThrow(
      `judge ${TINY}: a response of rollout max_tokens 247 + question (8 tokens) + verdict (2) after the prompt needs at least 257 positions, but the judge model has 256 (max_position_embeddings); shorten the question or lower rollout max_tokens`,
    );
    expect(StepJudge.open(gpu, cfg, judge.tokenizer, 246).text.verdict).toEqual(text.verdict);
    // Normalised: the longer of verdict and against decides the positions a step needs.
    const both = judgeText(judge, { ...cfg, against: "wrong" });
    await expect(judgeScores(judge, [{ ...t, responseIds: t.responseIds.slice(0, 243) }], both, new Set([2]))).rejects.toThrow(
      "judge: prompt (3 tokens) + response (243) + question (8) + verdict or against (5) needs 258 positions, but the judge model has 256 (max_position_embeddings); shorten the question or lower rollout max_tokens",
    );
    expect(() => StepJudge.open(gpu, { ...cfg, against: "wrong" }, judge.tokenizer, 244)).toThrow(
      `judge ${TINY}: a response of rollout max_tokens 244 + question (8 tokens) + verdict or against (5) after the prompt needs at least 257 positions, but the judge model has 256 (max_position_embeddings); shorten the question or lower rollout max_tokens`,
    );
  }, 60_000);

  it("examples/prm_judge.acpo trains 2 steps with countdown-tiny as its judge; samples.jsonl holds the reference scores and replays to the formula", async () => {
    const gpu = await testGpu();
    const p = loadPipeline(resolve("examples/prm_judge.acpo")).pipeline!;
    expect(p.judge!.model).toBe(TINY);
    expect(p.judge!.against).toBe("no"); // the example's scores are normalised: the reference below normalises too
    const text = printPipeline(p)
      .replace(/rollout \{[^}]*\}/, "rollout { prompts 2  group 2  temperature 1.0  top_p 1.0  max_tokens 64 }")
      .replace(/until steps >= \d+/g, "until steps >= 2")
      .replace(/eval \{[^}]*\}/g, "eval { every 100  split test  problems 2  samples 1  temperature 1.0  max_tokens 64  metrics [acc@1] }");
    const file = join(mkdtempSync(join(tmpdir(), "acpo-prm-judge-")), "prm_judge_small.acpo");
    writeFileSync(file, text);
    const out = join(mkdtempSync(join(tmpdir(), "acpo-prm-judge-run-")), "run");
    const r = await train({ pipelinePath: file, steps: 2, outDir: out, quiet: true, gpu, checkpointEvery: 10 });
    expect(r.steps).toBe(2);
    const lines = readFileSync(join(out, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step_starts: number[]; judge_score: number[]; tokens: number[]; prompt: string });
    expect(lines.length).toBeGreaterThan(0);
    // The judge is frozen at countdown-tiny's weights: the recorded scores are its reference scores.
    const judge = Policy.load(gpu, TINY);
    const jt = judgeText(judge, p.judge!);
    for (const l of lines.slice(0, 2)) {
      const t: JudgeInput = { promptIds: judge.tokenizer.promptIds(l.prompt), responseIds: l.tokens, starts: l.step_starts };
      const want = stepEnds(t, new Set(judge.tokenizer.eosIds)).map((e) => referenceScore(judge, t, e, jt));
      expectClose(l.judge_score, want, ATOL, RTOL, "recorded judge_score vs reference");
    }
    const f = readBatchFile(join(out, "samples.jsonl"));
    const b = f.batch;
    const small = loadPipeline(file).pipeline!;
    const res = interpretStage(lowerStage(small, small.stages[0]!), b);
    const lambda = small.params.find((q) => q.name === "lambda")!.value, eps = small.params.find((q) => q.name === "eps")!.value;
    const rewards = lines.map((_, i) => b.reward[i]!);
    lines.forEach((l, i) => {
      const g = f.groups[i]!;
      const rs = rewards.filter((_, j) => f.groups[j] === g);
      const mean = rs.reduce((a, x) => a + x, 0) / rs.length;
      const std = Math.sqrt(rs.reduce((a, x) => a + (x - mean) ** 2, 0) / rs.length);
      const A = (rewards[i]! - mean) / (std + eps);
      const m = l.judge_score.reduce((a, x) => a + x, 0) / l.judge_score.length;
      for (let t = 0; t < f.lengths[i]!; t++) {
        const k = b.stepIdx[i * b.T + t]!;
        expect(res.tokens.advantage[i * b.T + t]).toBeCloseTo(A + lambda * (l.judge_score[k]! - m), 9);
      }
    });
    // Its own user CPU is seconds; the wall-clock limit leaves room for a shared, loaded machine.
  }, 300_000);
});
