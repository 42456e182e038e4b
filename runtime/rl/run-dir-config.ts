// config.resolved.json: what a run ran with. The resolved pipeline twice: as canonical
// .acpo text (compiler/print.ts, which checks back to the same pipeline) and as JSON of its
// fields with every expression printed as text; plus the seed, the WebGPU adapter and the
// package version. Spans and file-relative details the text already carries are dropped.
import { readFileSync } from "node:fs";
import { printExpr, printPipeline, type Pipeline, type Sampling } from "../../compiler/index.js";
import type { AdapterSummary } from "../gpu.js";

export const RUN_FORMAT = "acpo-run";
export const RUN_VERSION = 1;

export interface ConfigInput {
  pipeline: Pipeline;
  /** The run's seed (the pipeline's, or `--seed`). */
  seed: number;
  /** The adapter the run uses (Gpu.info), or a description when there is none. */
  adapter: AdapterSummary | string;
  /** `--set` arguments as given. */
  set?: readonly string[];
  /** The command line, for the record. */
  argv?: readonly string[];
  /** Steps the run is asked to take (`--steps`, else the stages' own end). */
  steps?: number | null;
}

/** The package's version from package.json (two levels above this file, in source and in a build). */
export function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  try {
    const v = (JSON.parse(readFileSync(url, "utf8")) as { version?: unknown }).version;
    return typeof v === "string" ? v : "unknown";
  } catch {
    return "unknown";
  }
}

const bound = (x: number): number | null => (Number.isFinite(x) ? x : null);

function sampling(s: Sampling): Record<string, unknown> {
  return s.kind === "curriculum" ? { kind: s.kind, priority: printExpr(s.priority), unseen: s.unseen } : { ...s };
}

/** The pipeline as plain JSON: settings as they are, expressions as canonical text. */
export function pipelineJson(p: Pipeline): Record<string, unknown> {
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

export function resolvedConfig(c: ConfigInput, created: Date): Record<string, unknown> {
  // Limits are long and say nothing about results; the rest identifies the device.
  const adapter = typeof c.adapter === "string" ? { description: c.adapter } : (({ limits: _limits, ...rest }) => rest)(c.adapter);
  return {
    format: RUN_FORMAT,
    version: RUN_VERSION,
    acpo_version: packageVersion(),
    created: created.toISOString(),
    seed: c.seed,
    steps: c.steps ?? null,
    set: c.set ?? [],
    argv: c.argv ?? [],
    adapter,
    node: process.version,
    pipeline_text: printPipeline(c.pipeline),
    pipeline: pipelineJson(c.pipeline),
  };
}
