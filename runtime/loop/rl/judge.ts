// Step scores from a judge model (a generative process reward model; spec/algorithms.md,
// "Judge step scores"): after step k of a response, a frozen judge reads the prompt, the
// response up to the step's end and the `judge` block's question, and
//   judge_score_k = log p_judge(verdict | prompt, o[0 : e_k], question)
//                 = sum_j log p_judge(v_j | prompt, o[0 : e_k], question, v_<j)
// where e_k is where step k ends (the next step's start; the response's end for the last
// step, without the EOS that closed it: the judge reads the response, not the sampler's stop).
//
// This is attribution's query shape (attribution-kv.ts) with the question as the unscored
// suffix and the verdict as the scored answer, so it reuses that scoring: the judge's own KV
// cache is prefilled once per trajectory over prompt + response (prefillCache), and each step
// then costs |question| + |verdict| fed tokens, not a forward pass over the whole prefix.
// judgeScoresExplicit is the reference (one full forward per step, no cache); tests hold
// them equal.
//
// The judge is a separate frozen model loaded from its folder (`judge { model "DIR" }`),
// never the policy being trained: naming the policy's own folder gives a frozen copy of its
// starting weights. It reads the policy's token ids, so it must have the same tokenizer
// (loadJudge refuses another; re-tokenising text between vocabularies would change what a
// step boundary is, so acpo does not).
import type { Judge } from "../../../compiler/index.js";
import type { Gpu } from "../../engine/gpu.js";
import { Policy } from "../../engine/model/policy.js";
import type { TextTokenizer } from "../../engine/model/tokenizer.js";
import { stepStarts } from "./step-batch.js";
import type { Trajectory } from "./types.js";
import { answerLogliksFromCache, type ChunkLimits, chunksOf, defaultLimits, type PrefixQuery, prefillCache } from "./attribution-kv.js";

/** A judge that cannot be used with this policy: the message says what differs and what to do. */
export class JudgeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JudgeError";
  }
}

export interface JudgeInput {
  /** Prompt as the policy saw it (at least one token). */
  promptIds: readonly number[];
  responseIds: readonly number[];
  /** Step starts (stepStarts: the first is 0), one score per step. */
  starts: readonly number[];
}

/** The judge's fixed text, as token ids: the question (unscored) and the verdict (scored, >= 1 token). */
export interface JudgeText {
  question: number[];
  verdict: number[];
}

/** The first difference between two tokenizers, or null when they map every id to the same piece. */
export function tokenizerDifference(policy: TextTokenizer, judge: TextTokenizer): string | null {
  if (policy.vocabSize !== judge.vocabSize) return `${judge.vocabSize} tokens, the policy's has ${policy.vocabSize}`;
  for (let id = 0; id < policy.vocabSize; id++) {
    if (policy.piece(id) !== judge.piece(id)) return `token ${id} is ${JSON.stringify(judge.piece(id))}, the policy's is ${JSON.stringify(policy.piece(id))}`;
  }
  return null;
}

/** Load the judge's folder and check that it reads the policy's token ids. */
export function loadJudge(gpu: Gpu, cfg: Judge, policyTokenizer: TextTokenizer): Policy {
  const judge = Policy.load(gpu, cfg.model);
  const diff = tokenizerDifference(policyTokenizer, judge.tokenizer);
  if (diff !== null) {
    judge.weights.release();
    throw new JudgeError(`judge ${cfg.model}: its tokenizer differs from the policy's (${diff}); the judge scores the policy's token ids, so name a judge trained with the policy's tokenizer`);
  }
  return judge;
}

/** The question and verdict as the judge's token ids (no BOS: they continue the response). */
export function judgeText(judge: Policy, cfg: Judge): JudgeText {
  const verdict = judge.tokenizer.encode(cfg.verdict);
  if (verdict.length === 0) throw new JudgeError(`judge ${cfg.model}: the verdict ${JSON.stringify(cfg.verdict)} encodes to no tokens`);
  return { question: judge.tokenizer.encode(cfg.question), verdict };
}

/** Where each step ends (e_k): the next step's start, the response's end without its closing stop tokens for the last. */
export function stepEnds(t: JudgeInput, stopIds: ReadonlySet<number>): number[] {
  let L = t.responseIds.length;
  while (L > 0 && stopIds.has(t.responseIds[L - 1]!)) L--;
  return t.starts.map((_, k) => Math.min(k + 1 < t.starts.length ? t.starts[k + 1]! : L, L));
}

/** One scoring query per (trajectory, step); `ends[i][k]` is e_k of trajectory i. */
function queriesOf(trajs: readonly JudgeInput[], ends: number[][], text: JudgeText, rowOf: (traj: number) => number): PrefixQuery[] {
  return trajs.flatMap((t, i) => ends[i]!.map((end) => ({
    row: rowOf(i), promptLength: t.promptIds.length, end, suffix: text.question, answer: text.verdict,
    lastToken: end > 0 ? t.responseIds[end - 1]! : t.promptIds[t.promptIds.length - 1]!,
  })));
}

/** Refuse a trajectory whose longest query would run past the judge's positions, before any work. */
function checkFits(judge: Policy, trajs: readonly JudgeInput[], ends: number[][], text: JudgeText): void {
  const maxPos = judge.config.maxPositions;
  trajs.forEach((t, i) => {
    if (t.promptIds.length < 1) throw new JudgeError(`judge: trajectory ${i} has an empty prompt`);
    const need = t.promptIds.length + Math.max(0, ...ends[i]!) + text.question.length + text.verdict.length - 1;
    if (need > maxPos) {
      throw new JudgeError(`judge: prompt (${t.promptIds.length} tokens) + response (${Math.max(0, ...ends[i]!)}) + question (${text.question.length}) + verdict (${text.verdict.length}) needs ${need} positions, but the judge model has ${maxPos} (max_position_embeddings); shorten the question or lower rollout max_tokens`);
    }
  });
}

/**
 * judge_score per step of each trajectory (trajs[i].starts order), scored by `judge` from its
 * own prefilled KV cache, trajectories grouped within `limits`.
 */
export async function judgeScores(judge: Policy, trajs: readonly JudgeInput[], text: JudgeText, stopIds: ReadonlySet<number>, limits: ChunkLimits = defaultLimits(judge.config.vocabSize)): Promise<number[][]> {
  const ends = trajs.map((t) => stepEnds(t, stopIds));
  checkFits(judge, trajs, ends, text);
  const out = trajs.map((t) => new Array<number>(t.starts.length).fill(NaN));
  const extra = text.question.length + text.verdict.length;
  const prefillLen = (i: number) => trajs[i]!.promptIds.length + Math.max(0, ...ends[i]!);
  const all = trajs.map((_, i) => i);
  for (const [g0, g1] of chunksOf(all.map(prefillLen), limits)) {
    const group = all.slice(g0, g1);
    // The scoring reaches positions up to prompt + e_k + |question| + |verdict| - 1.
    const source = prefillCache(judge, group.map((i) => ({ tokens: [...trajs[i]!.promptIds, ...trajs[i]!.responseIds.slice(0, Math.max(0, ...ends[i]!))], positions: prefillLen(i) + extra })));
    try {
      const sub = group.map((i) => trajs[i]!);
      const got = await answerLogliksFromCache(judge, source, queriesOf(sub, group.map((i) => ends[i]!), text, (r) => r), limits);
      let q = 0;
      for (const i of group) for (let k = 0; k < ends[i]!.length; k++) out[i]![k] = got[q++]!;
    } finally {
      source.release();
    }
  }
  return out;
}

/** The reference: one full forward (Policy.score, no cache) of prompt + o[0 : e_k] + question + verdict per step. */
export async function judgeScoresExplicit(judge: Policy, trajs: readonly JudgeInput[], text: JudgeText, stopIds: ReadonlySet<number>): Promise<number[][]> {
  const ends = trajs.map((t) => stepEnds(t, stopIds));
  checkFits(judge, trajs, ends, text);
  const out: number[][] = [];
  for (const [i, t] of trajs.entries()) {
    const seqs = ends[i]!.map((e) => [...t.promptIds, ...t.responseIds.slice(0, e), ...text.question, ...text.verdict]);
    const { logprobs } = seqs.length > 0 ? await judge.score(seqs) : { logprobs: [] };
    out.push(ends[i]!.map((e, k) => {
      // logprobs[j] = log p(seq[j+1] | seq[..j]); verdict token m sits at P + e + |question| + m.
      const first = t.promptIds.length + e + text.question.length - 1;
      let s = 0;
      for (let m = 0; m < text.verdict.length; m++) s += logprobs[k]![first + m]!;
      return s;
    }));
  }
  return out;
}

/** The run's judge: the loaded model and its text, scoring each step's trajectories in place. */
export class StepJudge {
  private constructor(
    readonly model: Policy,
    readonly text: JudgeText,
    private readonly stopIds: ReadonlySet<number>,
  ) {}

  /**
   * Load `cfg.model` for a policy with `policyTokenizer`, refused when the tokenizers differ or
   * when a full response of `maxTokens` after a one-token prompt could not be judged (each
   * batch checks its own prompts again).
   */
  static open(gpu: Gpu, cfg: Judge, policyTokenizer: TextTokenizer, maxTokens: number): StepJudge {
    const model = loadJudge(gpu, cfg, policyTokenizer);
    const text = judgeText(model, cfg);
    const need = 1 + maxTokens + text.question.length + text.verdict.length - 1;
    if (need > model.config.maxPositions) {
      model.weights.release();
      throw new JudgeError(`judge ${cfg.model}: a response of rollout max_tokens ${maxTokens} + question (${text.question.length} tokens) + verdict (${text.verdict.length}) after the prompt needs at least ${need} positions, but the judge model has ${model.config.maxPositions} (max_position_embeddings); shorten the question or lower rollout max_tokens`);
    }
    return new StepJudge(model, text, new Set(policyTokenizer.eosIds));
  }

  /** Sets each trajectory's judgeScores, one per step of its step table. */
  async score(trajs: Trajectory[]): Promise<void> {
    const got = await judgeScores(this.model, trajs.map((t) => ({ ...t, starts: stepStarts(t) })), this.text, this.stopIds);
    got.forEach((s, i) => (trajs[i]!.judgeScores = s));
  }
}
