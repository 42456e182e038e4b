// Step attribution: the KV-cache path equals the explicit recomputation (full forwards of
// prompt + prefix + opening tag + answer content), and the explicit path equals log-softmax
// of full-forward logits taken by hand in float64, summed over the answer's content only.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { generate } from "../../runtime/engine/model/generate.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { chunksOf } from "../../runtime/loop/rl/attribution-kv.js";
import { type AttributionInput, attributeSteps, attributeStepsExplicit, resolveJudge } from "../../runtime/loop/rl/attribution.js";
import { type Segmentation, segmentResponse } from "../../runtime/loop/rl/segment.js";
import { testGpu } from "../helpers/gpu.js";
import { tinyCharPolicyDir } from "../helpers/models.js";
import { expectClose } from "../helpers/numeric.js";

const tinyPolicyDir = (seed: number): string => tinyCharPolicyDir(seed, 6);

/** A segmentation; `answer` is [start, end, contentStart, contentEnd] (tags outside the content). */
const seg = (boundaries: number[], answer: [number, number, number, number] | null, reasoningSteps: number): Segmentation => ({
  boundaries, answer: answer && { start: answer[0], end: answer[1], contentStart: answer[2], contentEnd: answer[3] }, reasoningSteps,
});

/** Prompts of different lengths (one is BOS alone), and how each trajectory uses its rollout. */
const PROMPTS = [[1, 10, 11], [1, 20, 21, 22, 23, 24], [1, 30], [1, 40, 41, 42], [1, 50, 51], [1, 60, 61, 62, 63], [1, 70, 71, 72, 73], [1], [1, 80, 81]];
const CASES: { length: number; segmentation: Segmentation | null; what: string }[] = [
  { length: 20, segmentation: seg([0, 4, 9, 14, 20], [14, 20, 16, 19], 3), what: "three steps, a two-token opening tag" },
  { length: 15, segmentation: seg([0, 10, 15], [10, 15, 11, 14], 1), what: "a single step" },
  { length: 12, segmentation: seg([0, 5, 12], null, 2), what: "no answer" },
  { length: 18, segmentation: seg([0, 6, 18], [12, 18, 13, 17], 2), what: "answer inside the last step (not a boundary)" },
  { length: 10, segmentation: null, what: "no segmentation" },
  { length: 7, segmentation: seg([0, 7], [0, 7, 1, 6], 0), what: "answer first, no reasoning" },
  { length: 11, segmentation: seg([0, 3, 8, 10, 11], [10, 11, 10, 11], 3), what: "one-token answer, no tags (empty suffix)" },
  { length: 9, segmentation: seg([0, 2, 5, 9], [5, 9, 6, 8], 2), what: "BOS-only prompt" },
  { length: 12, segmentation: seg([0, 4, 8, 12], [8, 12, 10, 10], 2), what: "empty answer content" },
];

async function rollout(policy: Policy) {
  const g = await generate(policy, PROMPTS, { maxNewTokens: 24, temperature: 1, seed: 7, stopIds: [], keepCache: true });
  const trajs: AttributionInput[] = CASES.map((c, b) => ({ promptIds: PROMPTS[b]!, responseIds: g.tokens[b]!.slice(0, c.length), segmentation: c.segmentation }));
  return { trajs, cache: g.cache! };
}

function expectShapes(C: number[][]): void {
  expect(C.map((c) => c.length)).toEqual([3, 1, 2, 2, 0, 0, 3, 2, 2]);
  expect(C[2]).toEqual([0, 0]);
  expect(C[8]).toEqual([0, 0]);
}

/** The attributions are not all (near) zero, so equality between paths says something. */
function expectSignal(C: number[][]): void {
  expect(Math.max(...C.flat().map(Math.abs))).toBeGreaterThan(0.05);
}

const flat = (C: number[][]) => C.flat();

async function logSoftmaxAt(gpu: Gpu, policy: Policy, seq: number[], t: number): Promise<number> {
  const V = policy.config.vocabSize, T = seq.length;
  const logits = await gpu.read(policy.model.forward(gpu.upload(Uint32Array.from(seq)), gpu.upload(Uint32Array.from({ length: T }, (_, i) => i)), 1, T));
  const row = Array.from(logits.subarray(t * V, (t + 1) * V));
  const mx = Math.max(...row);
  const lse = mx + Math.log(row.reduce((s, x) => s + Math.exp(x - mx), 0));
  return row[seq[t + 1]!]! - lse;
}

describe("step attribution", () => {
  const dir = tinyPolicyDir(3);

  it("the explicit reference is log p(Y | prompt, prefix, opening tag) over the content tokens only, differenced per step", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const { trajs, cache } = await rollout(policy);
    cache.release();
    // Answer [14, 20): opening tag [14, 16), content Y = [16, 19), closing tag [19, 20).
    const t = trajs[0]!, tag = t.responseIds.slice(14, 16), Y = t.responseIds.slice(16, 19);
    const L = async (e: number) => {
      const seq = [...t.promptIds, ...t.responseIds.slice(0, e), ...tag, ...Y];
      let s = 0;
      for (let j = 0; j < Y.length; j++) s += await logSoftmaxAt(gpu, policy, seq, t.promptIds.length + e + tag.length - 1 + j);
      return s;
    };
    const Ls = [await L(0), await L(4), await L(9), await L(14)];
    const [C] = await attributeStepsExplicit(policy, [t], "loglik");
    expectClose(C!, [Ls[1]! - Ls[0]!, Ls[2]! - Ls[1]!, Ls[3]! - Ls[2]!], 2e-4, 1e-4, "loglik C");
    const ppl = Ls.map((l) => Math.exp(-l / Y.length));
    const [P] = await attributeStepsExplicit(policy, [t], "perplexity");
    expectClose(P!, [ppl[0]! - ppl[1]!, ppl[1]! - ppl[2]!, ppl[2]! - ppl[3]!], 1e-4, 1e-3, "perplexity C");
  });

  it("reusing the rollout's KV cache gives the explicit recomputation, in one chunk or many", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const { trajs, cache } = await rollout(policy);
    for (const measure of ["loglik", "perplexity"] as const) {
      const ref = await attributeStepsExplicit(policy, trajs, measure, 5);
      expectShapes(ref);
      expectSignal(ref);
      const one = await attributeSteps(policy, cache, trajs, measure);
      expectShapes(one);
      expectClose(flat(one), flat(ref), 2e-4, 1e-3, `${measure}, one chunk`);
      // Chunks of at most 3 rows / 16 fed tokens: several chunks of different padded lengths.
      const many = await attributeSteps(policy, cache, trajs, measure, { limits: { maxRows: 3, maxTokens: 16 } });
      expectClose(flat(many), flat(ref), 2e-4, 1e-3, `${measure}, many chunks`);
    }
    // Trajectories listed in another order than their cache rows.
    const order = [5, 2, 7, 0, 8, 3, 6, 1, 4];
    const shuffled = order.map((b) => ({ ...trajs[b]!, cacheRow: b }));
    const got = await attributeSteps(policy, cache, shuffled, "loglik");
    const ref = await attributeStepsExplicit(policy, trajs, "loglik");
    expectClose(flat(got), flat(order.map((b) => ref[b]!)), 2e-4, 1e-3, "shuffled rows");
    cache.release();
  });

  it("a judge without a rollout cache (another model) prefills its own and matches its explicit recomputation", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const judge = Policy.load(gpu, tinyPolicyDir(11));
    const { trajs, cache } = await rollout(policy);
    const ref = await attributeStepsExplicit(judge, trajs, "loglik");
    expectShapes(ref);
    expectSignal(ref);
    expectClose(flat(await attributeSteps(judge, null, trajs, "loglik")), flat(ref), 2e-4, 1e-3, "prefill, one group");
    // At most 40 tokens per group: several prefill groups, several chunks each.
    const small = await attributeSteps(judge, null, trajs, "loglik", { limits: { maxRows: 4, maxTokens: 40 } });
    expectClose(flat(small), flat(ref), 2e-4, 1e-3, "prefill, many groups");
    // The policy's own attribution differs from the other judge's.
    const own = await attributeStepsExplicit(policy, trajs, "loglik");
    expect(Math.max(...flat(own).map((c, i) => Math.abs(c - flat(ref)[i]!)))).toBeGreaterThan(0.05);
    // The rollout cache holds the policy's keys/values, not the judge's.
    await expect(attributeSteps(judge, cache, trajs, "loglik")).rejects.toThrow(/different model/);
    cache.release();
    judge.release();
  });

  it("scores only the answer's content: the closing tag and what follows it never change C", async () => {
    // Regression: Y used to be the whole `<answer>...</answer>` span, so the tags' log-
    // probabilities (mostly -log p("<answer>" | mid-trace)) dominated every L(prefix, Y).
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const { trajs, cache } = await rollout(policy);
    cache.release();
    const t = trajs[0]!; // answer [14, 20), content [16, 19)
    const ref = await attributeStepsExplicit(policy, [t], "loglik");
    const changed = [...t.responseIds];
    changed[19] = (changed[19]! + 1) % policy.config.vocabSize; // another closing tag
    const got = await attributeStepsExplicit(policy, [{ ...t, responseIds: changed }], "loglik");
    expect(got).toEqual(ref);
    expect(await attributeSteps(policy, null, [{ ...t, responseIds: changed }], "loglik")).toEqual(await attributeSteps(policy, null, [t], "loglik"));
    // The opening tag is conditioned on: another tag changes C.
    const otherTag = [...t.responseIds];
    otherTag[15] = (otherTag[15]! + 1) % policy.config.vocabSize;
    const moved = await attributeStepsExplicit(policy, [{ ...t, responseIds: otherTag }], "loglik");
    expect(Math.max(...moved[0]!.map((c, i) => Math.abs(c - ref[0]![i]!)))).toBeGreaterThan(1e-3);
  });

  it("on a segmented trace, Y is the content between the tags, after the `<answer>` token", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const text = "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>";
    const promptIds = [1, ...policy.tokenizer.encode("Use 7 3 4.\n")];
    const responseIds = [...policy.tokenizer.encode(text), policy.tokenizer.eosIds[0]!];
    const pieces = responseIds.map((id) => policy.tokenizer.decode([id]));
    const segmentation = segmentResponse(pieces, null, { kind: "fixed", length: 10 });
    const a = segmentation.answer!;
    expect(pieces.slice(a.start, a.contentStart)).toEqual(["<answer>"]);
    expect(pieces.slice(a.contentStart, a.contentEnd).join("")).toBe("7*3+4");
    expect(pieces.slice(a.contentEnd, a.end)).toEqual(["</answer>"]);
    expect(segmentation.boundaries).toEqual([0, 10, 20, a.start, responseIds.length]); // a.start = 26: "First", "Then", "So" are one token each
    expect(segmentation.reasoningSteps).toBe(3);
    const L = async (e: number) => {
      const seq = [...promptIds, ...responseIds.slice(0, e), ...responseIds.slice(a.start, a.contentEnd)];
      let s = 0;
      for (let j = a.contentStart; j < a.contentEnd; j++) s += await logSoftmaxAt(gpu, policy, seq, promptIds.length + e + (j - a.start) - 1);
      return s;
    };
    const ends = [0, 10, 20, a.start];
    const Ls: number[] = [];
    for (const e of ends) Ls.push(await L(e));
    const want = Ls.slice(1).map((l, i) => l - Ls[i]!);
    const traj = { promptIds, responseIds, segmentation };
    expectClose((await attributeStepsExplicit(policy, [traj], "loglik"))[0]!, want, 2e-4, 1e-4, "explicit");
    expectClose((await attributeSteps(policy, null, [traj], "loglik"))[0]!, want, 2e-4, 1e-3, "cached");
  });

  it("rejects answer spans outside the response and cache rows outside the cache", async () => {
    const gpu = await testGpu();
    const policy = Policy.load(gpu, dir);
    const { trajs, cache } = await rollout(policy);
    const bad = { ...trajs[0]!, segmentation: seg([0, 4, 14], [14, 25, 15, 24], 2) };
    await expect(attributeStepsExplicit(policy, [bad], "loglik")).rejects.toThrow(/trajectory 0: answer span \[14, 25\) outside its 20 response tokens/);
    const content = { ...trajs[0]!, segmentation: seg([0, 4, 14], [14, 20, 13, 19], 2) };
    await expect(attributeSteps(policy, cache, [content], "loglik")).rejects.toThrow(/trajectory 0: answer content \[13, 19\) outside its answer span \[14, 20\)/);
    await expect(attributeSteps(policy, cache, [{ ...trajs[0]!, cacheRow: 9 }], "loglik")).rejects.toThrow(/cache row 9 out of range \(cache has 9 rows\)/);
    cache.release();
  });

  it("chunks respect rows and padded tokens; an oversized item gets its own chunk", () => {
    expect(chunksOf([5, 5, 4, 4, 3, 1], { maxRows: 3, maxTokens: 100 })).toEqual([[0, 3], [3, 6]]);
    expect(chunksOf([5, 5, 4, 4, 3, 1], { maxRows: 10, maxTokens: 12 })).toEqual([[0, 2], [2, 5], [5, 6]]);
    expect(chunksOf([3, 50, 2], { maxRows: 10, maxTokens: 10 })).toEqual([[0, 1], [1, 2], [2, 3]]);
    expect(chunksOf([], { maxRows: 1, maxTokens: 1 })).toEqual([]);
  });

  it("resolves the pipeline's judge", () => {
    const current = { name: "current" } as unknown as Policy, initial = { name: "initial" } as unknown as Policy, other = { name: "other" } as unknown as Policy;
    const load = (p: string) => { expect(p).toBe("/m"); return other; };
    expect(resolveJudge({ kind: "policy" }, current, initial, load)).toEqual({ judge: current, reuseRolloutCache: true });
    expect(resolveJudge({ kind: "initial" }, current, initial, load)).toEqual({ judge: initial, reuseRolloutCache: false });
    expect(resolveJudge({ kind: "model", path: "/m" }, current, null, load)).toEqual({ judge: other, reuseRolloutCache: false });
    expect(() => resolveJudge({ kind: "initial" }, current, null, load)).toThrow(/frozen initial policy/);
  });
});
