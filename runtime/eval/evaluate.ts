// Evaluation on a task's held-out split: k samples per problem at a temperature (Acc@k,
// unbiased pass@k) and one greedy sample per problem (greedy accuracy).
import { generate } from "../model/generate.js";
import type { Policy } from "../model/policy.js";
import type { Problem, Split, Task, Verdict } from "../tasks/types.js";
import { accAtK, mean, meanPassAtK } from "./estimators.js";

export interface EvalOptions {
  split?: Split; // default "test"
  problems: number;
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
  /** Unbiased pass@k (with n = k samples it is the fraction of problems solved at least once). */
  passAtK: number;
  greedyAccuracy: number | null;
  meanResponseTokens: number;
  /** One example per problem: the first sample's text and verdict. */
  examples: { problem: string; response: string; verdict: Verdict }[];
}

/** Token ids of a prompt as the policy sees it: BOS (when the tokenizer has one), then the text. */
export function promptIds(policy: Policy, prompt: string): number[] {
  const bos = policy.tokenizer.bosId;
  return [...(bos !== null ? [bos] : []), ...policy.tokenizer.encode(prompt)];
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

export async function evaluate(policy: Policy, task: Task, o: EvalOptions): Promise<EvalResult> {
  const split = o.split ?? "test";
  const problems = task.problems(split, o.problems, o.seed);
  const { text, tokens } = await sampleResponses(policy, problems, o.k, o);
  const verdicts = problems.map((p, i) => text[i]!.map((t) => task.verify(p, t)));
  const correct = verdicts.map((vs) => vs.filter((v) => v.correct).length);
  let greedyAccuracy: number | null = null;
  if (o.greedy ?? true) {
    const g = await sampleResponses(policy, problems, 1, { ...o, temperature: 0 });
    greedyAccuracy = problems.filter((p, i) => task.verify(p, g.text[i]![0]!).correct).length / problems.length;
  }
  const allTokens = tokens.flat();
  return {
    split,
    problems: problems.length,
    k: o.k,
    temperature: o.temperature,
    accAtK: accAtK(correct.map((c) => ({ n: o.k, c }))),
    passAtK: meanPassAtK(correct.map((c) => ({ n: o.k, c })), o.k),
    greedyAccuracy,
    meanResponseTokens: mean(allTokens),
    examples: problems.map((p, i) => ({ problem: p.prompt, response: text[i]![0]!, verdict: verdicts[i]![0]! })),
  };
}
