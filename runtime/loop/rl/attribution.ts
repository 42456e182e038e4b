// Step attribution (ACPO section 2.1.2): how much each reasoning step changes the judge's
// belief in the final answer.
//
// A response is segmented into steps S_1..S_K (segment.ts). Y is the CONTENT of its final
// `<answer>...</answer>` (tokens [contentStart, contentEnd)): not the tags, not the EOS;
// for math tasks the content of the last `\boxed{...}` (segment.ts, answer "math"), its
// suffix the "\boxed{" tokens.
// Scoring the tags too made L(prefix, Y) mostly -log p("<answer>" | mid-trace), large
// after every prefix but the last, so C piled up on the step just before the answer. So
// the prefix is followed by a fixed answer-eliciting suffix, the same for every prefix of
// the trajectory: its own opening-tag tokens [start, contentStart). Then
//   L(prefix, Y) = sum_j log p(Y_j | prompt, prefix, open tag, Y_<j)   (content tokens only).
// For the reasoning steps i = 1..reasoningSteps the prefix S_1..S_i is response tokens
// [0, e_i) with e_i = min(b_i, answer start) (the clamp matters only when the answer is not
// a step boundary: a prefix never includes the answer it scores), and e_0 = 0 is the
// prompt alone.
//   measure "loglik":     C_i = L(e_i) - L(e_{i-1})
//   measure "perplexity": C_i = PPL(e_{i-1}) - PPL(e_i),  PPL(e) = exp(-L(e) / |Y|)
// Both are positive when step i makes the answer more likely.
// Conventions: a trajectory without segmentation gets [] (attribution off for it); one
// without a complete answer, or whose answer is empty (`<answer></answer>`), gets C = 0 for
// every reasoning step (there is no Y to explain, and 0 leaves its advantage to the base
// term); one with no reasoning steps gets [].
//
// attributeSteps is the fast path (attribution-kv.ts): prefixes' keys/values come from a
// KV cache, so each L costs |suffix| + |Y| tokens. attributeStepsExplicit is the reference:
// one full forward of prompt + prefix + suffix + Y per (trajectory, prefix), no cache.
// Tests hold them equal.
//
// Judges (compiler/pipeline.ts Attribution.judge): "policy" scores with the policy that
// sampled the rollouts, whose generate(keepCache) cache is reused; "initial" (a frozen copy
// of the initial policy) and "model" (another checkpoint) have no rollout cache, so
// attributeSteps prefills the judge's own cache over prompt + reasoning first (pass null).
import type { Attribution } from "../../../compiler/index.js";
import type { KVCache } from "../../engine/model/decoder.js";
import type { Policy } from "../../engine/model/policy.js";
import { answerLogliksFromCache, type ChunkLimits, chunksOf, defaultLimits, type PrefixQuery, prefillCache } from "./attribution-kv.js";
import type { Segmentation } from "./segment.js";

export type AttributionMeasure = Attribution["measure"];

export interface AttributionInput {
  /** Prompt as the policy saw it (at least one token). */
  promptIds: readonly number[];
  responseIds: readonly number[];
  segmentation: Segmentation | null;
  /** Row of the rollout cache holding this trajectory (default: its index in the batch). */
  cacheRow?: number;
}

/** What one trajectory needs scored: its suffix, its answer and the distinct prefix ends e_0 = 0 < ... */
interface Plan {
  /** The answer-eliciting suffix fed after every prefix, not scored: the opening-tag tokens. */
  suffix: number[];
  /** Y: the answer's content tokens, scored. */
  answer: number[];
  /** e_0..e_K for the K reasoning steps (non-decreasing; equal after the clamp). */
  ends: number[];
}

/** null when the trajectory needs no scoring (C is [] or all zeros). */
function planOf(t: AttributionInput, index: number): Plan | null {
  const seg = t.segmentation;
  if (seg === null || seg.answer === null || seg.reasoningSteps === 0) return null;
  const T = t.responseIds.length, { start, end, contentStart, contentEnd } = seg.answer;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= T)) {
    throw new RangeError(`attribution: trajectory ${index}: answer span [${start}, ${end}) outside its ${T} response tokens`);
  }
  if (!(Number.isInteger(contentStart) && Number.isInteger(contentEnd) && start <= contentStart && contentStart <= contentEnd && contentEnd <= end)) {
    throw new RangeError(`attribution: trajectory ${index}: answer content [${contentStart}, ${contentEnd}) outside its answer span [${start}, ${end})`);
  }
  if (seg.boundaries.length < seg.reasoningSteps + 1) throw new RangeError(`attribution: trajectory ${index}: ${seg.reasoningSteps} reasoning steps but ${seg.boundaries.length} boundaries`);
  if (t.promptIds.length < 1) throw new RangeError(`attribution: trajectory ${index}: empty prompt`);
  if (contentStart === contentEnd) return null; // an empty answer: no Y to explain
  const ends = [0];
  for (let i = 1; i <= seg.reasoningSteps; i++) ends.push(Math.min(seg.boundaries[i]!, start));
  return { suffix: t.responseIds.slice(start, contentStart), answer: t.responseIds.slice(contentStart, contentEnd), ends };
}

/** One scoring query per distinct (trajectory, prefix end). */
interface Query {
  traj: number;
  end: number;
}

function queriesOf(plans: (Plan | null)[]): { queries: Query[]; index: Map<string, number> } {
  const queries: Query[] = [], index = new Map<string, number>();
  plans.forEach((p, traj) => {
    for (const end of p?.ends ?? []) {
      const key = `${traj}:${end}`;
      if (!index.has(key)) { index.set(key, queries.length); queries.push({ traj, end }); }
    }
  });
  return { queries, index };
}

/** C per reasoning step from L per query. */
function combine(trajs: readonly AttributionInput[], plans: (Plan | null)[], index: Map<string, number>, L: Float64Array, measure: AttributionMeasure): number[][] {
  return trajs.map((t, traj) => {
    const p = plans[traj];
    if (!p) return new Array<number>(t.segmentation?.reasoningSteps ?? 0).fill(0);
    const m = p.answer.length;
    const score = (end: number) => {
      const l = L[index.get(`${traj}:${end}`)!]!;
      return measure === "loglik" ? l : Math.exp(-l / m);
    };
    const C: number[] = [];
    for (let i = 1; i < p.ends.length; i++) {
      const before = score(p.ends[i - 1]!), after = score(p.ends[i]!);
      C.push(measure === "loglik" ? after - before : before - after);
    }
    return C;
  });
}

export interface AttributionOptions {
  /** Chunk limits of the cached path (default: defaultLimits(vocab)). */
  limits?: ChunkLimits;
}

/**
 * C per reasoning step of each trajectory, judged by `judge`. `cache` is the rollout's KV
 * cache (generate with keepCache, filled by this judge's model; trajectory i in row
 * cacheRow ?? i), or null to prefill the judge's own cache.
 */
export async function attributeSteps(
  judge: Policy,
  cache: KVCache | null,
  trajs: readonly AttributionInput[],
  measure: AttributionMeasure,
  o: AttributionOptions = {},
): Promise<number[][]> {
  const limits = o.limits ?? defaultLimits(judge.config.vocabSize);
  const plans = trajs.map(planOf);
  const { queries, index } = queriesOf(plans);
  const L = new Float64Array(queries.length);
  const toPrefix = (q: Query, row: number): PrefixQuery => {
    const t = trajs[q.traj]!;
    return {
      row, promptLength: t.promptIds.length, end: q.end, suffix: plans[q.traj]!.suffix, answer: plans[q.traj]!.answer,
      lastToken: q.end > 0 ? t.responseIds[q.end - 1]! : t.promptIds[t.promptIds.length - 1]!,
    };
  };
  if (cache) {
    const got = await answerLogliksFromCache(judge, cache, queries.map((q) => toPrefix(q, trajs[q.traj]!.cacheRow ?? q.traj)), limits);
    L.set(got);
  } else {
    // Prefill groups of trajectories within the limits, then score each group's prefixes from its cache.
    const scored = plans.flatMap((p, i) => (p ? [i] : []));
    const prefillLen = (i: number) => trajs[i]!.promptIds.length + trajs[i]!.segmentation!.answer!.start;
    // The scoring reaches positions up to the content's end (prompt + contentEnd - 1).
    for (const [g0, g1] of chunksOf(scored.map(prefillLen), limits)) {
      const group = scored.slice(g0, g1);
      const rowOf = new Map(group.map((traj, r) => [traj, r]));
      const source = prefillCache(judge, group.map((i) => {
        const t = trajs[i]!, a = t.segmentation!.answer!;
        return { tokens: [...t.promptIds, ...t.responseIds.slice(0, a.start)], positions: t.promptIds.length + a.contentEnd };
      }));
      try {
        const qi = queries.flatMap((q, k) => (rowOf.has(q.traj) ? [k] : []));
        const got = await answerLogliksFromCache(judge, source, qi.map((k) => toPrefix(queries[k]!, rowOf.get(queries[k]!.traj)!)), limits);
        qi.forEach((k, j) => { L[k] = got[j]!; });
      } finally {
        source.release();
      }
    }
  }
  return combine(trajs, plans, index, L, measure);
}

/**
 * The reference: the same C from full forwards (Policy.score, no cache) of prompt + prefix +
 * suffix + answer for every (trajectory, prefix), `batch` sequences per forward.
 */
export async function attributeStepsExplicit(judge: Policy, trajs: readonly AttributionInput[], measure: AttributionMeasure, batch = 32): Promise<number[][]> {
  const plans = trajs.map(planOf);
  const { queries, index } = queriesOf(plans);
  const L = new Float64Array(queries.length);
  for (let q0 = 0; q0 < queries.length; q0 += batch) {
    const qs = queries.slice(q0, q0 + batch);
    const seqs = qs.map(({ traj, end }) => [...trajs[traj]!.promptIds, ...trajs[traj]!.responseIds.slice(0, end), ...plans[traj]!.suffix, ...plans[traj]!.answer]);
    const { logprobs } = await judge.score(seqs);
    qs.forEach(({ traj, end }, k) => {
      // logprobs[i] = log p(seq[i+1] | seq[..i]); Y_j sits at P + end + |suffix| + j.
      const first = trajs[traj]!.promptIds.length + end + plans[traj]!.suffix.length - 1;
      let s = 0;
      for (let j = 0; j < plans[traj]!.answer.length; j++) s += logprobs[k]![first + j]!;
      L[q0 + k] = s;
    });
  }
  return combine(trajs, plans, index, L, measure);
}

/**
 * The judge a pipeline's attribution names, and whether the rollout's cache (filled by the
 * current policy) can be reused for it. `initial` is the frozen initial policy (the loop
 * keeps it when a pipeline asks for it); `load` opens a model folder.
 */
export function resolveJudge(
  spec: Attribution["judge"],
  current: Policy,
  initial: Policy | null,
  load: (path: string) => Policy,
): { judge: Policy; reuseRolloutCache: boolean } {
  switch (spec.kind) {
    case "policy":
      return { judge: current, reuseRolloutCache: true };
    case "initial":
      if (!initial) throw new Error("attribution judge 'initial' needs the frozen initial policy, and none was kept");
      return { judge: initial, reuseRolloutCache: false };
    case "model":
      return { judge: load(spec.path), reuseRolloutCache: false };
  }
}
