// The resolved pipeline as plain JSON: settings as they are, expressions as canonical text
// (printExpr), param bounds null when open. One definition for every file that records a
// pipeline: a plan's plan.json (compiler/plan/plan.ts) and a run's config.resolved.json
// (runtime/loop/run/run-dir-config.ts).
import type { Level } from "./levels.js";
import type { Pipeline, Sampling } from "./pipeline.js";
import { printExpr } from "./print.js";

export interface PipelineJson {
  name: string;
  file: string;
  extendsChain: string[];
  seed: number;
  model: Pipeline["model"];
  task: Pipeline["task"];
  rollout: Pipeline["rollout"];
  optimizer: Pipeline["optimizer"];
  params: { name: string; value: number; min: number | null; max: number | null; source: "file" | "set" }[];
  lets: { name: string; level: Level; expr: string }[];
  fns: { name: string; params: string[]; body: string }[];
  segment: Pipeline["segment"];
  attribution: Pipeline["attribution"];
  /** Only when the pipeline has a `judge` block. */
  judge?: Pipeline["judge"];
  advantage: { expr: string; level?: Level };
  stages: {
    name: string;
    until: string;
    next: string | null;
    reference: Pipeline["stages"][number]["reference"];
    kl: string | null;
    klEstimators: Pipeline["stages"][number]["klEstimators"];
    tokenWeight: string;
    tokenMask: string;
    sampling: Record<string, unknown>;
  }[];
  loss: Pipeline["loss"];
  evals: Pipeline["evals"];
}

const bound = (x: number): number | null => (Number.isFinite(x) ? x : null);

function sampling(s: Sampling): Record<string, unknown> {
  return s.kind === "curriculum" ? { kind: s.kind, priority: printExpr(s.priority), unseen: s.unseen } : { ...s };
}

export function pipelineJson(p: Pipeline): PipelineJson {
  return {
    name: p.name,
    file: p.file,
    extendsChain: p.extendsChain,
    seed: p.seed,
    model: p.model,
    task: p.task,
    rollout: p.rollout,
    optimizer: p.optimizer,
    params: p.params.map((q) => ({ name: q.name, value: q.value, min: bound(q.min), max: bound(q.max), source: q.source })),
    lets: p.lets.map((l) => ({ name: l.name, level: l.level, expr: printExpr(l.expr) })),
    fns: p.fns.map((f) => ({ name: f.name, params: f.params, body: printExpr(f.body) })),
    segment: p.segment,
    attribution: p.attribution,
    ...(p.judge ? { judge: p.judge } : {}),
    advantage: { expr: printExpr(p.advantage), level: p.advantage.level },
    stages: p.stages.map((s) => ({
      name: s.name,
      until: printExpr(s.until),
      next: s.next,
      reference: s.reference,
      kl: s.kl ? printExpr(s.kl) : null,
      klEstimators: s.klEstimators,
      tokenWeight: printExpr(s.tokenWeight),
      tokenMask: printExpr(s.tokenMask),
      sampling: sampling(s.sampling),
    })),
    loss: p.loss,
    evals: p.evals,
  };
}
