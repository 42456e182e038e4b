// How attribution C spreads over a response's reasoning steps, on the same rollouts under
// two definitions of the scored answer Y:
//   "tags"    Y = the whole `<answer>...</answer>` span, nothing in between prefix and Y (the
//             definition before issue 11);
//   "content" Y = the answer's content after its opening tag (runtime/loop/rl/attribution.ts).
// Prints, over trajectories with a complete answer and at least two reasoning steps, each
// step position's share of the response's total |C| (position counted from the end: the
// last reasoning step is "last"), mean |C|, and how often the last step has the largest |C|.
//
//   npx tsx scripts/attribution-by-position.ts [pipeline.acpo] [--model DIR] [--rounds N] [--seed S]
import { dirname } from "node:path";
import { formatAll, loadPipeline } from "../compiler/index.js";
import { Gpu } from "../runtime/engine/gpu.js";
import { Policy } from "../runtime/engine/model/policy.js";
import { attributeSteps } from "../runtime/loop/rl/attribution.js";
import { rollout, segmentRules } from "../runtime/loop/rl/rollout.js";
import { taskFromPipeline } from "../runtime/loop/rl/task-of.js";
import type { Trajectory } from "../runtime/loop/rl/types.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}

/** Share of total |C| and mean |C| per position from the end (0 = last reasoning step). */
function summarise(Cs: number[][]): { share: number[]; meanAbs: number[]; lastIsMax: number; n: number } {
  const used = Cs.filter((c) => c.length >= 2);
  const share: number[] = [], meanAbs: number[] = [], count: number[] = [];
  let lastIsMax = 0;
  for (const c of used) {
    const abs = c.map(Math.abs), total = abs.reduce((s, x) => s + x, 0);
    abs.reverse().forEach((a, k) => {
      share[k] = (share[k] ?? 0) + (total > 0 ? a / total : 0);
      meanAbs[k] = (meanAbs[k] ?? 0) + a;
      count[k] = (count[k] ?? 0) + 1;
    });
    if (abs[0] === Math.max(...abs)) lastIsMax++;
  }
  return { share: share.map((s, k) => s / count[k]!), meanAbs: meanAbs.map((s, k) => s / count[k]!), lastIsMax: lastIsMax / used.length, n: used.length };
}

async function main(): Promise<void> {
  const file = process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : "examples/acpo.acpo";
  const r = loadPipeline(file);
  if (!r.pipeline) throw new Error(formatAll(r));
  const p = r.pipeline;
  const gpu = await Gpu.create();
  const policy = Policy.load(gpu, flag("--model", p.model.path));
  const task = taskFromPipeline(p.task, dirname(p.file));
  const rules = segmentRules(p.segment);
  const rounds = Number(flag("--rounds", "4")), seed = Number(flag("--seed", "1"));
  const byDef: Record<"tags" | "content", number[][]> = { tags: [], content: [] };
  for (let k = 0; k < rounds; k++) {
    const problems = task.problems("train", p.rollout.prompts, seed + k);
    const { trajectories, cache } = await rollout(policy, task, problems, p.rollout, rules, { seed: seed * 1000 + k, keepCache: true });
    const scored = trajectories.filter((t) => t.segmentation?.answer && t.segmentation.reasoningSteps >= 2);
    const input = (t: Trajectory, tags: boolean) => {
      const a = t.segmentation!.answer!;
      return { promptIds: t.promptIds, responseIds: t.responseIds, cacheRow: trajectories.indexOf(t), segmentation: tags ? { ...t.segmentation!, answer: { ...a, contentStart: a.start, contentEnd: a.end } } : t.segmentation };
    };
    byDef.tags.push(...(await attributeSteps(policy, cache, scored.map((t) => input(t, true)), "loglik")));
    byDef.content.push(...(await attributeSteps(policy, cache, scored.map((t) => input(t, false)), "loglik")));
    cache?.release();
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  for (const def of ["tags", "content"] as const) {
    const s = summarise(byDef[def]);
    const pos = (k: number) => (k === 0 ? "last" : `last-${k}`);
    console.log(`Y = ${def}: ${s.n} responses with >= 2 reasoning steps; last step has the largest |C| in ${pct(s.lastIsMax)}`);
    console.log(`  share of total |C|: ${s.share.slice(0, 4).map((x, k) => `${pos(k)} ${pct(x)}`).join("  ")}`);
    console.log(`  mean |C| (nats):    ${s.meanAbs.slice(0, 4).map((x, k) => `${pos(k)} ${x.toFixed(3)}`).join("  ")}`);
  }
  policy.release();
  await gpu.destroy();
}

await main();
