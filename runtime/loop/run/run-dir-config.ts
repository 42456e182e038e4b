// config.resolved.json: what a run ran with. The resolved pipeline twice: as canonical
// .acpo text (compiler/print.ts, which checks back to the same pipeline) and as JSON of its
// fields with every expression printed as text (pipelineJson, compiler/pipeline-json.ts,
// as in plan.json); plus the seed, the WebGPU adapter and the package version.
import { readFileSync } from "node:fs";
import { pipelineJson, printPipeline, type Pipeline } from "../../../compiler/index.js";
import type { AdapterSummary } from "../../engine/gpu.js";

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
  const url = new URL("../../../package.json", import.meta.url);
  try {
    const v = (JSON.parse(readFileSync(url, "utf8")) as { version?: unknown }).version;
    return typeof v === "string" ? v : "unknown";
  } catch {
    return "unknown";
  }
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
