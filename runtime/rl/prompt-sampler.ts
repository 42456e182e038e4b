// Which prompts an optimizer step trains on, per the stage's `sample` setting:
//   all        P fresh training problems per step;
//   dynamic    DAPO's dynamic sampling: roll out P prompts at a time, keep only groups whose
//              rewards are not all equal, repeat until P groups are kept or maxRounds
//              generations were made (then train on the groups kept so far);
//   curriculum draw P problems from a fixed pool of the training split with probability
//              proportional to the group-level `priority` of their last rollout (problems not
//              yet seen have priority `unseen`).
import type { Pipeline, Stage } from "../../compiler/pipeline.js";
import type { KVCache } from "../model/decoder.js";
import type { Policy } from "../model/policy.js";
import type { Rng } from "../rng.js";
import type { Problem, Task } from "../tasks/types.js";
import { rollout } from "./rollout.js";
import type { SegmentRules } from "./segment.js";
import type { Trajectory } from "./types.js";
import { type Counters, CurriculumPriority } from "./until.js";

/** Sampler state kept across steps (and in checkpoints): curriculum priorities by problem id. */
export interface SamplerState {
  priorities?: Record<string, number>;
  [key: string]: unknown;
}

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
}

/** Each stage's lowered priority expression, built once (lowering per step would be wasted work). */
const priorityOf = new WeakMap<Stage, CurriculumPriority>();

/** Problems in the curriculum pool: a fixed slice of the training split. */
const CURRICULUM_POOL = 1024;

export async function collectRollouts(
  policy: Policy, task: Task, pipeline: Pipeline, stage: Stage, rules: SegmentRules | null,
  o: { seed: number; keepCache: boolean; state: SamplerState; rng: Rng; counters: Counters },
): Promise<Collected> {
  const P = pipeline.rollout.prompts;
  const s = stage.sampling;
  if (s.kind === "all" || s.kind === "curriculum") {
    const problems = s.kind === "all" ? task.problems("train", P, o.seed) : drawCurriculum(task, pipeline, s.unseen, P, o);
    const r = await rollout(policy, task, problems, pipeline.rollout, rules, { seed: o.seed, keepCache: o.keepCache });
    let state = o.state;
    if (s.kind === "curriculum") {
      const priorities = { ...(o.state.priorities ?? {}) };
      let pri = priorityOf.get(stage);
      if (!pri) priorityOf.set(stage, (pri = new CurriculumPriority(pipeline, stage)));
      for (const g of pri.evaluate(r.trajectories, o.counters)) priorities[g.problemId] = g.priority;
      state = { ...o.state, priorities };
    }
    return { trajectories: r.trajectories, generated: r.trajectories, cache: r.cache, cacheRows: r.trajectories.map((_, i) => i), seconds: r.seconds, state, rounds: 1 };
  }
  // Dynamic sampling: several generations, so no single KV cache covers the kept rows.
  const kept: Trajectory[] = [], generated: Trajectory[] = [];
  const seconds = { generate: 0, verify: 0, segment: 0 };
  let rounds = 0, groups = 0;
  while (groups < P && rounds < s.maxRounds) {
    const problems = task.problems("train", P, (o.seed + rounds * 0x9e3779b1) >>> 0);
    const r = await rollout(policy, task, problems, pipeline.rollout, rules, { seed: (o.seed + rounds) >>> 0, firstGroup: rounds * P, keepCache: false });
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
  return { trajectories: kept, generated, cache: null, cacheRows: kept.map((_, i) => i), seconds, state: o.state, rounds };
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
