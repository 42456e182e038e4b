// One rollout: G responses per prompt from the current policy, verified, each cut into
// reasoning steps. The KV cache of the batch can be kept for attribution.
import type { Rollout as RolloutConfig, Segment } from "../../../compiler/index.js";
import { promptIds } from "../eval/evaluate.js";
import type { KVCache } from "../../engine/model/decoder.js";
import { generate } from "../../engine/model/generate.js";
import type { Policy } from "../../engine/model/policy.js";
import { answerStyleOf } from "../../engine/tasks/answer.js";
import type { Problem, Task } from "../../engine/tasks/types.js";
import { stepChecker } from "../../engine/tasks/countdown-steps.js";
import { stepStarts } from "./step-batch.js";
import { type SegmentRules, segmentResponse } from "./segment.js";
import type { PhaseProbe } from "./phase-probe.js";
import type { Trajectory } from "./types.js";

export interface RolloutResult {
  trajectories: Trajectory[];
  cache: KVCache | null;
  seconds: { generate: number; verify: number; segment: number };
}

/** The pipeline's segment block as segmentation rules (null: no segmentation, one step). */
export function segmentRules(s: Segment | null): SegmentRules | null {
  if (!s) return null;
  if (s.kind === "entropy") return { kind: "entropy", candidates: s.candidates, markers: s.markers, minGap: s.minGap, align: s.align };
  if (s.kind === "newline") return { kind: "newline", minGap: s.minGap };
  if (s.kind === "fixed") return { kind: "fixed", length: s.length };
  return { kind: "none" };
}

/** Sample `group` responses for each problem; groups are numbered from `firstGroup`. */
export async function rollout(
  policy: Policy, task: Task, problems: Problem[], cfg: RolloutConfig, rules: SegmentRules | null,
  o: { seed: number; firstGroup?: number; keepCache: boolean; probe?: PhaseProbe },
): Promise<RolloutResult> {
  const t0 = performance.now();
  const rows = problems.flatMap((p, i) => Array.from({ length: cfg.group }, () => ({ p, group: (o.firstGroup ?? 0) + i, ids: promptIds(policy, p.prompt) })));
  const g = await generate(policy, rows.map((r) => r.ids), {
    maxNewTokens: cfg.maxTokens, temperature: cfg.temperature, topP: cfg.topP, topK: cfg.topK, seed: o.seed, keepCache: o.keepCache,
  });
  await o.probe?.at("rollout decode");
  const t1 = performance.now();
  const texts = g.tokens.map((ids) => policy.tokenizer.decode(ids, true));
  const verdicts = rows.map((r, i) => task.verify(r.p, texts[i]!));
  await o.probe?.at("verification");
  const t2 = performance.now();
  const checkSteps = stepChecker(task);
  // The answer attribution scores: the math verifier's \boxed{} content for math datasets.
  const answerRules = rules && { ...rules, answer: answerStyleOf(task) };
  const trajectories: Trajectory[] = rows.map((r, i) => {
    const ids = g.tokens[i]!;
    // Per-token text that joins to the decoded text (split UTF-8 characters, leading spaces).
    const pieces = policy.tokenizer.decodePieces(ids);
    const t: Trajectory = {
      problem: r.p, group: r.group, promptIds: r.ids, responseIds: ids, oldLogp: g.logprobs[i]!, entropies: g.entropies[i]!,
      text: texts[i]!, verdict: verdicts[i]!,
      segmentation: answerRules ? segmentResponse(pieces, g.entropies[i]!, answerRules) : null,
      C: [],
    };
    // The process verifier's step rewards (step_reward), over the same steps the batch uses.
    if (checkSteps) t.stepRewards = checkSteps(r.p, pieces, stepStarts(t));
    return t;
  });
  await o.probe?.at("segmentation");
  const t3 = performance.now();
  return { trajectories, cache: g.cache, seconds: { generate: (t1 - t0) / 1000, verify: (t2 - t1) / 1000, segment: (t3 - t2) / 1000 } };
}
