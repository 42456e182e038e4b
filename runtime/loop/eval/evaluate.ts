// Evaluation on a task's held-out split: n samples per problem at a temperature (Acc@k,
// unbiased pass@k for any k <= n) and one greedy sample per problem (greedy accuracy).
import { generate } from "../../engine/model/generate.js";
import type { Policy } from "../../engine/model/policy.js";
import { type Problem, type Split, type Task, TaskSpecError, type Verdict } from "../../engine/tasks/types.js";
import { accAtK, mean, meanPassAtK, type SampleCounts } from "./estimators.js";

export interface EvalOptions {
  split?: Split; // default "test"
  /** Problems to evaluate; 0 = every problem of the split (an error for a split drawn on demand). */
  problems: number;
  /** Samples per problem (n). */
  k: number;
  temperature: number;
  topP?: number;
  maxNewTokens: number;
  seed: number;
  /** Also decode greedily once per problem (default true). */
  greedy?: boolean;
  /** Rows per generation batch (default 128). */
  batchRows?: number;
}

export interface EvalResult {
  split: Split;
  problems: number;
  k: number;
  temperature: number;
  /** Mean accuracy over the k samples of every problem. */
  accAtK: number;
  /** Unbiased pass@k with k = n samples: the fraction of problems solved at least once. */
  passAtK: number;
  /** Samples (n) and correct ones (c) per problem, for pass@k at any k <= n (`metricValue`). */
  counts: SampleCounts[];
  greedyAccuracy: number | null;
  meanResponseTokens: number;
  /** One example per problem: the first sample's text and verdict. */
  examples: { problem: string; response: string; verdict: Verdict }[];
}

/**
 * Token ids of a prompt as the policy sees it: BOS (when the tokenizer has one) then the
 * text, or the chat template's rendering when the run's prompt format asks for chat.
 */
export function promptIds(policy: Policy, prompt: string): number[] {
  return policy.tokenizer.promptIds(prompt, policy.tokenizer.promptFormat);
}

/** Sample `perProblem` responses for each problem, in batches; returns texts and token counts. */
export async function sampleResponses(
  policy: Policy, problems: Problem[], perProblem: number,
  o: { temperature: number; topP?: number; maxNewTokens: number; seed: number; batchRows?: number },
): Promise<{ text: string[][]; tokens: number[][] }> {
  const rows = problems.flatMap((p, i) => Array.from({ length: perProblem }, () => ({ i, ids: promptIds(policy, p.prompt) })));
  const text: string[][] = problems.map(() => []);
  const tokens: number[][] = problems.map(() => []);
  const batch = o.batchRows ?? 128;
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const g = await generate(policy, chunk.map((r) => r.ids), {
      maxNewTokens: o.maxNewTokens, temperature: o.temperature, topP: o.topP, seed: o.seed + start, stopStrings: ["</answer>"],
    });
    chunk.forEach((r, j) => {
      text[r.i]!.push(policy.tokenizer.decode(g.tokens[j]!, true));
      tokens[r.i]!.push(g.tokens[j]!.length);
    });
  }
  return { text, tokens };
}

/** How many problems `problems` asks for: itself, or with 0 the whole split (which must have a size). */
export function problemCount(task: Task, split: Split, problems: number): number {
  if (!Number.isInteger(problems) || problems < 0) throw new RangeError(`eval: problems must be an integer >= 0 (0 = the whole split), got ${problems}`);
  if (problems > 0) return problems;
  const size = task.size(split);
  if (size === null) {
    throw new TaskSpecError(`eval: problems 0 means the whole ${split} split, but task ${task.name} draws its ${split} problems on demand (no fixed size); give a number of problems, or give the task a ${split}_size (task option ${split}Size)`);
  }
  return size;
}

export async function evaluate(policy: Policy, task: Task, o: EvalOptions): Promise<EvalResult> {
  const split = o.split ?? "test";
  const problems = task.problems(split, problemCount(task, split, o.problems), o.seed);
  const { text, tokens } = await sampleResponses(policy, problems, o.k, o);
  const verdicts = problems.map((p, i) => text[i]!.map((t) => task.verify(p, t)));
  const correct = verdicts.map((vs) => vs.filter((v) => v.correct).length);
  let greedyAccuracy: number | null = null;
  if (o.greedy ?? true) {
    const g = await sampleResponses(policy, problems, 1, { ...o, temperature: 0 });
    greedyAccuracy = problems.filter((p, i) => task.verify(p, g.text[i]![0]!).correct).length / problems.length;
  }
  const allTokens = tokens.flat();
  const counts = correct.map((c) => ({ n: o.k, c }));
  return {
    split,
    problems: problems.length,
    k: o.k,
    temperature: o.temperature,
    accAtK: accAtK(counts),
    passAtK: meanPassAtK(counts, o.k),
    counts,
    greedyAccuracy,
    meanResponseTokens: mean(allTokens),
    examples: problems.map((p, i) => ({ problem: p.prompt, response: text[i]![0]!, verdict: verdicts[i]![0]! })),
  };
}

/**
 * A pipeline metric from an evaluation's n samples per problem: `pass@k` is the unbiased
 * estimator 1 - C(n-c, k)/C(n, k) with the metric's own k (not n); `acc@k` is the mean
 * accuracy c/n, the unbiased estimate of the accuracy of k samples for any k <= n.
 */
export function metricValue(r: EvalResult, m: { kind: "acc" | "pass"; k: number }): number {
  return m.kind === "acc" ? accAtK(r.counts) : meanPassAtK(r.counts, m.k);
}
