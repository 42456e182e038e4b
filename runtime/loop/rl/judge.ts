// Step scores from a judge model (a generative process reward model; spec/algorithms.md,
// "Judge step scores"): after step k of a response, a frozen judge reads the prompt, the
// response up to the step's end and the `judge` block's question, and
//   judge_score_k = log p_judge(verdict | prompt, o[0 : e_k], question)
//                 = sum_j log p_judge(v_j | prompt, o[0 : e_k], question, v_<j)
// where e_k is where step k ends (the next step's start; the response's end for the last
// step, without the EOS that closed it: the judge reads the response, not the sampler's stop).
// With `against` (GenRM's normalised form, arXiv 2408.15240), the verdict's probability is
// normalised against its alternative a's, so the score no longer moves with how likely the
// judge finds any verdict text at that point:
//   judge_score_k = log p(v) - log(p(v) + p(a)),  p(x) = p_judge(x | prompt, o[0 : e_k], question)
// (<= 0, like the single verdict's), one more scored branch per step from the same cache.
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

/** The judge's fixed text, as token ids: the question (unscored), the verdict (scored, >= 1 token) and its alternative when normalised. */
export interface JudgeText {
  question: number[];
  verdict: number[];
  /** `against`: scored like the verdict, which it normalises; null for the single verdict's log-probability. */
  against: number[] | null;
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

/** The question, verdict and alternative as the judge's token ids (no BOS: they continue the response). */
export function judgeText(judge: Policy, cfg: Judge): JudgeText {
  const verdict = judge.tokenizer.encode(cfg.verdict);
  if (verdict.length === 0) throw new JudgeError(`judge ${cfg.model}: the verdict ${JSON.stringify(cfg.verdict)} encodes to no tokens`);
  const against = cfg.against === undefined ? null : judge.tokenizer.encode(cfg.against);
  if (against !== null) checkAlternatives(cfg, verdict, against);
  return { question: judge.tokenizer.encode(cfg.question), verdict, against };
}

/**
 * Refuse an alternative that is no alternative in the judge's tokens: empty, or one text's
 * tokens starting the other's. Then p(longer) = p(shorter) * p(rest | shorter), and the
 * normalised score would measure only how the longer one continues, not the judge's verdict.
 */
function checkAlternatives(cfg: Judge, verdict: readonly number[], against: readonly number[]): void {
  const v = JSON.stringify(cfg.verdict), a = JSON.stringify(cfg.against);
  if (against.length === 0) throw new JudgeError(`judge ${cfg.model}: against ${a} encodes to no tokens`);
  const [short, long] = verdict.length <= against.length ? [verdict, against] : [against, verdict];
  if (!short.every((id, j) => long[j] === id)) return;
  const how = verdict.length === against.length ? "encode to the same tokens" : `overlap: ${verdict.length < against.length ? "the verdict's" : "against's"} tokens [${short.join(", ")}] begin the other's [${long.join(", ")}]`;
  throw new JudgeError(`judge ${cfg.model}: the verdict ${v} and against ${a} ${how}, so they are not alternatives; name two answers that differ within their shorter one's tokens (e.g. " Yes" and " No")`);
}

/**
 * log(p_v / (p_v + p_a)) = -log(1 + p_a / p_v) from the two log-probabilities, in float64:
 * only their difference enters (no underflow of exp(-1000), no cancellation against it),
 * and log1p of a term <= 1 keeps full precision when one verdict dominates.
 */
export function normalisedScore(logV: number, logA: number): number {
  const d = logA - logV;
  return d <= 0 ? -Math.log1p(Math.exp(d)) : -d - Math.log1p(Math.exp(-d));
}

/** Scored tokens per step: the verdict's, or the longer of verdict and alternative (they branch from the same point). */
const scoredLength = (text: JudgeText): number => Math.max(text.verdict.length, text.against?.length ?? 0);

/** Where each step ends (e_k): the next step's start, the response's end without its closing stop tokens for the last. */
export function stepEnds(t: JudgeInput, stopIds: ReadonlySet<number>): number[] {
  let L = t.responseIds.length;
  while (L > 0 && stopIds.has(t.responseIds[L - 1]!)) L--;
  return t.starts.map((_, k) => Math.min(k + 1 < t.starts.length ? t.starts[k + 1]! : L, L));
}

/** One scoring query per (trajectory, step) for `answer`; `ends[i][k]` is e_k of trajectory i. */
function queriesOf(trajs: readonly JudgeInput[], ends: number[][], question: readonly number[], answer: readonly number[], rowOf: (traj: number) => number): PrefixQuery[] {
  return trajs.flatMap((t, i) => ends[i]!.map((end) => ({
    row: rowOf(i), promptLength: t.promptIds.length, end, suffix: question, answer,
    lastToken: end > 0 ? t.responseIds[end - 1]! : t.promptIds[t.promptIds.length - 1]!,
  })));
}

/** Refuse a trajectory whose longest query would run past the judge's positions, before any work. */
function checkFits(judge: Policy, trajs: readonly JudgeInput[], ends: number[][], text: JudgeText): void {
  const maxPos = judge.config.maxPositions;
  trajs.forEach((t, i) => {
    if (t.promptIds.length < 1) throw new JudgeError(`judge: trajectory ${i} has an empty prompt`);
    const need = t.promptIds.length + Math.max(0, ...ends[i]!) + text.question.length + scoredLength(text) - 1;
    if (need > maxPos) {
      throw new JudgeError(`judge: prompt (${t.promptIds.length} tokens) + response (${Math.max(0, ...ends[i]!)}) + question (${text.question.length}) + ${verdictWords(text)} needs ${need} positions, but the judge model has ${maxPos} (max_position_embeddings); shorten the question or lower rollout max_tokens`);
    }
  });
}

/** The scored text's length in a message: "verdict (2)", or "verdict or against (3)" when normalised. */
const verdictWords = (text: JudgeText): string => (text.against === null ? `verdict (${text.verdict.length})` : `verdict or against (${scoredLength(text)})`);

/**
 * judge_score per step of each trajectory (trajs[i].starts order), scored by `judge` from its
 * own prefilled KV cache, trajectories grouped within `limits`.
 */
export async function judgeScores(judge: Policy, trajs: readonly JudgeInput[], text: JudgeText, stopIds: ReadonlySet<number>, limits: ChunkLimits = defaultLimits(judge.config.vocabSize)): Promise<number[][]> {
  const ends = trajs.map((t) => stepEnds(t, stopIds));
  checkFits(judge, trajs, ends, text);
  const out = trajs.map((t) => new Array<number>(t.starts.length).fill(NaN));
  const extra = text.question.length + scoredLength(text);
  const prefillLen = (i: number) => trajs[i]!.promptIds.length + Math.max(0, ...ends[i]!);
  const all = trajs.map((_, i) => i);
  for (const [g0, g1] of chunksOf(all.map(prefillLen), limits)) {
    const group = all.slice(g0, g1);
    // The scoring reaches positions up to prompt + e_k + |question| + |verdict| - 1.
    const source = prefillCache(judge, group.map((i) => ({ tokens: [...trajs[i]!.promptIds, ...trajs[i]!.responseIds.slice(0, Math.max(0, ...ends[i]!))], positions: prefillLen(i) + extra })));
    try {
      const sub = group.map((i) => trajs[i]!);
      const subEnds = group.map((i) => ends[i]!);
      // The verdict's queries, then (normalised) the alternative's: one more branch per step from the same cache rows.
      const queries = queriesOf(sub, subEnds, text.question, text.verdict, (r) => r);
      const n = queries.length;
      if (text.against !== null) queries.push(...queriesOf(sub, subEnds, text.question, text.against, (r) => r));
      const got = await answerLogliksFromCache(judge, source, queries, limits);
      let q = 0;
      for (const i of group) for (let k = 0; k < ends[i]!.length; k++, q++) out[i]![k] = text.against === null ? got[q]! : normalisedScore(got[q]!, got[n + q]!);
    } finally {
      source.release();
    }
  }
  return out;
}

/**
 * The reference: one full forward (Policy.score, no cache) of prompt + o[0 : e_k] + question +
 * verdict per step, and one of the alternative when normalised.
 */
export async function judgeScoresExplicit(judge: Policy, trajs: readonly JudgeInput[], text: JudgeText, stopIds: ReadonlySet<number>): Promise<number[][]> {
  const ends = trajs.map((t) => stepEnds(t, stopIds));
  checkFits(judge, trajs, ends, text);
  const out: number[][] = [];
  for (const [i, t] of trajs.entries()) {
    const v = await explicitLogliks(judge, t, ends[i]!, text.question, text.verdict);
    const a = text.against === null ? null : await explicitLogliks(judge, t, ends[i]!, text.question, text.against);
    out.push(v.map((x, k) => (a === null ? x : normalisedScore(x, a[k]!))));
  }
  return out;
}

/** log p(answer | prompt, o[0 : e], question) for each step end e, one full forward each. */
async function explicitLogliks(judge: Policy, t: JudgeInput, ends: readonly number[], question: readonly number[], answer: readonly number[]): Promise<number[]> {
  const seqs = ends.map((e) => [...t.promptIds, ...t.responseIds.slice(0, e), ...question, ...answer]);
  const { logprobs } = seqs.length > 0 ? await judge.score(seqs) : { logprobs: [] };
  return ends.map((e, k) => {
    // logprobs[j] = log p(seq[j+1] | seq[..j]); answer token m sits at P + e + |question| + m.
    const first = t.promptIds.length + e + question.length - 1;
    let s = 0;
    for (let m = 0; m < answer.length; m++) s += logprobs[k]![first + m]!;
    return s;
  });
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
    let text: JudgeText;
    try {
      text = judgeText(model, cfg);
    } catch (e) {
      model.weights.release(); // refused before the run: the judge's weights go back
      throw e;
    }
    const need = 1 + maxTokens + text.question.length + scoredLength(text) - 1;
    if (need > model.config.maxPositions) {
      model.weights.release();
      throw new JudgeError(`judge ${cfg.model}: a response of rollout max_tokens ${maxTokens} + question (${text.question.length} tokens) + ${verdictWords(text)} after the prompt needs at least ${need} positions, but the judge model has ${model.config.maxPositions} (max_position_embeddings); shorten the question or lower rollout max_tokens`);
    }
    return new StepJudge(model, text, new Set(policyTokenizer.eosIds));
  }

  /** Sets each trajectory's judgeScores, one per step of its step table. */
  async score(trajs: Trajectory[]): Promise<void> {
    const got = await judgeScores(this.model, trajs.map((t) => ({ ...t, starts: stepStarts(t) })), this.text, this.stopIds);
    got.forEach((s, i) => (trajs[i]!.judgeScores = s));
  }
}
