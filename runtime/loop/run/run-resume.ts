// What a run runs with: its pipeline, seed and step count. A new run takes them from the
// command line and the pipeline file; a resumed run takes them only from its own directory
// (config.resolved.json: `pipeline_text`, `seed`, `steps`), so that it continues exactly the
// run that was started, whatever happened to the pipeline file since (edited, moved, gone).
// Arguments given with --resume that would change the run are an error; identical ones are fine.
import { join, resolve } from "node:path";
import { formatAll, loadPipeline, printPipeline, type Pipeline } from "../../../compiler/index.js";
import { CONFIG_FILE } from "./run-dir.js";
import { plannedSteps } from "../../../compiler/plan/artifact.js";

/** Largest seed: the run's RNG (runtime/engine/rng.ts) is seeded from one u32. */
export const MAX_SEED = 0xffffffff;

export interface RunSettings {
  pipeline: Pipeline;
  seed: number;
  /** Steps to take; null when the stages end on conditions. */
  steps: number | null;
  /** The `--set` arguments the pipeline was resolved with. */
  set: string[];
}

/** The parts of TrainOptions that choose what a run runs. */
export interface GivenArgs {
  pipelinePath?: string;
  pipelineText?: string;
  plan?: { pipeline: Pipeline };
  set?: readonly string[];
  steps?: number;
  seed?: number;
  outDir?: string;
  checkpointEvery?: number;
}

/** A setting of the run that cannot be used as given; the message says which and why. */
export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

const isSeed = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= MAX_SEED;
const isCount = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 1;

/** Counts and seeds given to train(): checked here too, for callers other than the CLI. */
export function checkGivenCounts(g: GivenArgs): void {
  if (g.steps !== undefined && !isCount(g.steps)) throw new SettingsError(`--steps must be an integer >= 1, got ${g.steps}`);
  if (g.checkpointEvery !== undefined && !isCount(g.checkpointEvery)) throw new SettingsError(`--checkpoint-every must be an integer >= 1, got ${g.checkpointEvery}`);
  if (g.seed !== undefined && !isSeed(g.seed)) throw new SettingsError(`--seed must be an integer in [0, ${MAX_SEED}], got ${g.seed}`);
}

/** A new run's settings: the loaded pipeline, `--seed` or the pipeline's seed, `--steps` or the stages' own count. */
export function freshSettings(pipeline: Pipeline, g: GivenArgs): RunSettings {
  const seed = g.seed ?? pipeline.seed;
  if (!isSeed(seed)) throw new SettingsError(`${pipeline.file}: seed ${seed} must be an integer in [0, ${MAX_SEED}] (it seeds a 32-bit generator; larger values would be silently wrapped)`);
  return { pipeline, seed, steps: g.steps ?? plannedSteps(pipeline), set: [...(g.set ?? [])] };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * A resumed run's settings, from its config.resolved.json (`cfg`), and the check that the
 * arguments given with --resume agree with them. Throws SettingsError listing every conflict.
 */
export function resumeSettings(runPath: string, cfg: Record<string, unknown>, g: GivenArgs): RunSettings {
  const cfgPath = join(runPath, CONFIG_FILE);
  const stored = storedSettings(cfgPath, cfg);
  const conflicts: string[] = [];
  if (g.plan) conflicts.push("a compiled plan (acpo run) cannot continue a run; use acpo train --resume");
  if (g.seed !== undefined && g.seed !== stored.seed) conflicts.push(`--seed ${g.seed}: the run's seed is ${stored.seed}`);
  if (g.steps !== undefined && g.steps !== stored.steps) {
    conflicts.push(`--steps ${g.steps}: the run ${stored.steps === null ? "has no step count (its stages end on conditions)" : `takes ${stored.steps} steps`}`);
  }
  if (g.set && g.set.length > 0 && !sameList(g.set, stored.set)) {
    const was = stored.set.length ? stored.set.map((a) => `--set ${a}`).join(" ") : "no --set";
    conflicts.push(`${g.set.map((a) => `--set ${a}`).join(" ")}: the run was started with ${was}`);
  }
  if (g.outDir && resolve(g.outDir) !== resolve(runPath)) conflicts.push(`--out ${g.outDir}: the run's directory is ${runPath}`);
  const fileConflict = g.pipelinePath ? givenFileConflict(g.pipelinePath, g, stored) : null;
  if (fileConflict) conflicts.push(fileConflict);
  if (conflicts.length > 0) {
    throw new SettingsError(
      `cannot resume ${runPath} with these arguments:\n  ${conflicts.join("\n  ")}\n` +
        `--resume continues the run exactly as it was started (${cfgPath}); drop them, or start a new run (--out DIR)`,
    );
  }
  return stored;
}

/** The settings config.resolved.json records, with its pipeline checked again from `pipeline_text`. */
function storedSettings(cfgPath: string, cfg: Record<string, unknown>): RunSettings {
  const field = (name: string, want: string) => new SettingsError(`${cfgPath}: field '${name}' must be ${want}, found ${JSON.stringify(cfg[name])}; the run's configuration is damaged`);
  if (typeof cfg.pipeline_text !== "string") throw field("pipeline_text", "the pipeline's text");
  if (!isSeed(cfg.seed)) throw field("seed", `an integer in [0, ${MAX_SEED}]`);
  if (cfg.steps !== null && !isCount(cfg.steps)) throw field("steps", "an integer >= 1 or null");
  if (!Array.isArray(cfg.set) || !cfg.set.every((a) => typeof a === "string")) throw field("set", "a list of strings");
  const file = (cfg.pipeline as { file?: unknown } | undefined)?.file;
  if (typeof file !== "string") throw new SettingsError(`${cfgPath}: field 'pipeline.file' must be the pipeline's path; the run's configuration is damaged`);
  // `--set` is already applied in pipeline_text; the file's path only anchors relative paths.
  const r = loadPipeline(file, { text: cfg.pipeline_text });
  if (!r.pipeline) throw new SettingsError(`${cfgPath}: the run's stored pipeline (pipeline_text) does not check with this version of acpo:\n${formatAll(r)}`);
  return { pipeline: r.pipeline, seed: cfg.seed, steps: cfg.steps as number | null, set: cfg.set as string[] };
}

/**
 * A pipeline's meaning: its printed form without the provenance comment. The stored text of
 * a run whose file extends another prints "# resolved from FILE" where the file itself prints
 * "# resolved from FILE (extends PARENT)", yet both mean the same pipeline.
 */
const meaning = (p: Pipeline): string => printPipeline(p).replace(/^# resolved from .*\n/, "");

/** A FILE given with --resume is fine only when it resolves to exactly the run's pipeline. */
function givenFileConflict(path: string, g: GivenArgs, stored: RunSettings): string | null {
  const r = loadPipeline(path, { set: g.set && g.set.length > 0 ? [...g.set] : stored.set, text: g.pipelineText });
  if (r.pipeline && meaning(r.pipeline) === meaning(stored.pipeline)) return null;
  return `${path}: ${r.pipeline ? "differs from" : "does not check, unlike"} the pipeline the run was started with (the run uses its stored pipeline_text)`;
}
