// Which prompts an optimizer step trains on, per the stage's `sample` setting:
//   all        P fresh training problems per step;
//   dynamic    DAPO's dynamic sampling: roll out P prompts at a time, keep only groups whose
//              rewards are not all equal, repeat until P groups are kept or maxRounds
//              generations were made. Short of P groups, the step trains on the groups kept
//              (reported as dynamic_sampling_short); with none kept it is not a step at all:
//              sampling starts over with a fresh seed, and after MAX_EMPTY_ATTEMPTS such
//              attempts in a row the run stops with a SamplingError (verl raises at once);
//   curriculum draw P problems from a fixed pool of the training split with probability
//              proportional to the group-level `priority` of their last rollout (problems not
//              yet seen have priority `unseen`).
import type { Pipeline, Stage } from "../../../compiler/index.js";
import type { KVCache } from "../../engine/model/decoder.js";
import type { Policy } from "../../engine/model/policy.js";
import type { Rng } from "../../engine/rng.js";
import type { Problem, Task } from "../../engine/tasks/types.js";
import type { PhaseProbe } from "./phase-probe.js";
import { rollout } from "./rollout.js";
import type { SegmentRules } from "./segment.js";
import type { Trajectory } from "./types.js";
import type { Counters, CurriculumPriority } from "./until.js";

/** Sampler state kept across steps (and in checkpoints): curriculum priorities by problem id. */
export interface SamplerState {
  priorities?: Record<string, number>;
  [key: string]: unknown;
}

/** What dynamic sampling gathered for one step (spec/algorithms.md, DAPO). */
export interface DynamicSampling {
  /** Prompt groups kept (rewards not all equal), at most `wanted`. */
  kept: number;
  /** Groups the step asked for (rollout.prompts). */
  wanted: number;
  /** Generation rounds of the attempt that kept something. */
  rounds: number;
  /** Whole attempts of max_rounds rounds before it that kept no group. */
  emptyAttempts: number;
}

/** Consecutive dynamic-sampling attempts that keep no group, after which the run stops. */
export const MAX_EMPTY_ATTEMPTS = 5;

/** Dynamic sampling found no group with a learning signal, attempt after attempt. */
export class SamplingError extends Error {}

export interface Collected {
  /** The trajectories the step trains on. */
  trajectories: Trajectory[];
  /** Every trajectory generated this step (dynamic sampling's dropped groups included), for rollout metrics. */
  generated: Trajectory[];
  /** The rollout's KV cache when kept (single-round sampling) and its row of each trajectory. */
  cache: KVCache | null;
  cacheRows: number[];
  seconds: { generate: number; verify: number; segment: number };
  state: SamplerState;
  rounds: number;
  /** Dynamic sampling's counts; null for the other sampling modes. */
  sampling: DynamicSampling | null;
}

/** Problems in the curriculum pool: a fixed slice of the training split. */
const CURRICULUM_POOL = 1024;

export async function collectRollouts(
  policy: Policy, task: Task, pipeline: Pipeline, stage: Stage, rules: SegmentRules | null,
  o: {
    seed: number; keepCache: boolean; state: SamplerState; rng: Rng; counters: Counters; log?: (msg: string) => void;
    /** The stage's compiled curriculum priority (required when it samples by curriculum). */
    priority?: CurriculumPriority | null;
    /** Step-profile marks (phase-probe.ts), passed to the single-round rollout. */
    probe?: PhaseProbe;
  },
): Promise<Collected> {
  const P = pipeline.rollout.prompts;
  const s = stage.sampling;
  if (s.kind === "all" || s.kind === "curriculum") {
    const problems = s.kind === "all" ? task.problems("train", P, o.seed) : drawCurriculum(task, pipeline, s.unseen, P, o);
    const r = await rollout(policy, task, problems, pipeline.rollout, rules, { seed: o.seed, keepCache: o.keepCache, probe: o.probe });
    let state = o.state;
    if (s.kind === "curriculum") {
      const priorities = { ...(o.state.priorities ?? {}) };
      if (!o.priority) throw new Error(`stage '${stage.name}' samples by curriculum but no compiled priority was given`);
      for (const g of o.priority.ofGroups(r.trajectories, o.counters)) priorities[g.problemId] = g.priority;
      state = { ...o.state, priorities };
    }
    return { trajectories: r.trajectories, generated: r.trajectories, cache: r.cache, cacheRows: r.trajectories.map((_, i) => i), seconds: r.seconds, state, rounds: 1, sampling: null };
  }
  return collectDynamic(policy, task, pipeline, s.maxRounds, rules, o);
}

/**
 * Dynamic sampling: attempts of up to `maxRounds` rounds until one keeps a group; each
 * empty attempt draws a fresh seed from the run's RNG, and MAX_EMPTY_ATTEMPTS in a row stop
 * the run. Rollout statistics cover every response generated, empty attempts included.
 */
async function collectDynamic(
  policy: Policy, task: Task, pipeline: Pipeline, maxRounds: number, rules: SegmentRules | null,
  o: { seed: number; state: SamplerState; rng: Rng; log?: (msg: string) => void },
): Promise<Collected> {
  const P = pipeline.rollout.prompts;
  const generated: Trajectory[] = [];
  const seconds = { generate: 0, verify: 0, segment: 0 };
  let seed = o.seed;
  for (let emptyAttempts = 0; ; ) {
    const a = await dynamicAttempt(policy, task, pipeline, maxRounds, rules, seed);
    generated.push(...a.generated);
    for (const k of Object.keys(seconds) as (keyof typeof seconds)[]) seconds[k] += a.seconds[k];
    if (a.groups > 0) {
      const sampling = { kept: a.groups, wanted: P, rounds: a.rounds, emptyAttempts };
      return { trajectories: a.kept, generated, cache: null, cacheRows: a.kept.map((_, i) => i), seconds, state: o.state, rounds: a.rounds, sampling };
    }
    emptyAttempts++;
    if (emptyAttempts >= MAX_EMPTY_ATTEMPTS) {
      throw new SamplingError(
        `dynamic sampling kept no prompt group in ${MAX_EMPTY_ATTEMPTS} attempts of ${maxRounds} rounds (${MAX_EMPTY_ATTEMPTS * maxRounds * P} prompts): ` +
        "every group's rewards were equal, so no step had a learning signal. The problems are too hard (or too easy) for the policy: " +
        "change the task's difficulty, raise `max_rounds`, or use `sample all`",
      );
    }
    o.log?.(`acpo: dynamic sampling kept no group in ${maxRounds} rounds (all rewards equal in every group); not a step, sampling again (${emptyAttempts} of ${MAX_EMPTY_ATTEMPTS} attempts)`);
    seed = o.rng.nextU32();
  }
}

/** One attempt: up to `maxRounds` rounds of P prompts, keeping groups whose rewards differ (renumbered 0..). */
async function dynamicAttempt(policy: Policy, task: Task, pipeline: Pipeline, maxRounds: number, rules: SegmentRules | null, seed: number) {
  const P = pipeline.rollout.prompts;
  const kept: Trajectory[] = [], generated: Trajectory[] = [];
  const seconds = { generate: 0, verify: 0, segment: 0 };
  let rounds = 0, groups = 0;
  while (groups < P && rounds < maxRounds) {
    const problems = task.problems("train", P, (seed + rounds * 0x9e3779b1) >>> 0);
    const r = await rollout(policy, task, problems, pipeline.rollout, rules, { seed: (seed + rounds) >>> 0, firstGroup: rounds * P, keepCache: false });
    rounds++;
    generated.push(...r.trajectories);
    for (const k of Object.keys(seconds) as (keyof typeof seconds)[]) seconds[k] += r.seconds[k];
    for (let g = 0; g < P && groups < P; g++) {
      const members = r.trajectories.filter((t) => t.group === rounds * P - P + g);
      if (members.every((t) => t.verdict.reward === members[0]!.verdict.reward)) continue;
      for (const t of members) kept.push({ ...t, group: groups });
      groups++;
    }
  }
  return { kept, generated, seconds, rounds, groups };
}

function drawCurriculum(task: Task, pipeline: Pipeline, unseen: number, P: number, o: { state: SamplerState; rng: Rng }): Problem[] {
  const pool = task.problems("train", Math.min(CURRICULUM_POOL, task.size("train") ?? CURRICULUM_POOL), pipeline.seed);
  const pri = o.state.priorities ?? {};
  const weights = pool.map((p) => Math.max(0, pri[p.id] ?? unseen));
  const chosen: Problem[] = [];
  const taken = new Set<number>();
  for (let k = 0; k < Math.min(P, pool.length); k++) {
    let total = 0;
    weights.forEach((w, i) => { if (!taken.has(i)) total += w; });
    let i = 0;
    if (total > 0) {
      let u = o.rng.uniform() * total;
      for (i = 0; i < pool.length; i++) {
        if (taken.has(i)) continue;
        u -= weights[i]!;
        if (u < 0) break;
      }
      if (i >= pool.length) i = pool.findIndex((_, j) => !taken.has(j));
    } else {
      // Every priority is 0: draw uniformly among the problems not taken yet.
      const free = pool.map((_, j) => j).filter((j) => !taken.has(j));
      i = free[o.rng.int(free.length)]!;
    }
    taken.add(i);
    chosen.push(pool[i]!);
  }
  return chosen;
}
