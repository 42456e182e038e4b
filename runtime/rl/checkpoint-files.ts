// One training checkpoint directory (spec/run.md "Checkpoints"):
//   config.json, model.safetensors, tokenizer*.json, generation_config.json
//                            the policy in the Hugging Face layout (`acpo eval --model` reads it)
//   optimizer.safetensors    AdamW moments: <param>.exp_avg, <param>.exp_avg_sq (f32)
//   optimizer.json           {"t": completed AdamW steps}
//   references/<name>/       each frozen reference policy, HF layout (name: the stage that froze it, or "initial")
//   trainer_state.json       the loop's state, the RNG state, and the size of every other file; written last
// Reading checks every file against the recorded sizes and parses it, so a truncated or
// corrupt checkpoint is a CheckpointError naming the file, never a crash later.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { type Checkpoint, loadCheckpoint, saveCheckpoint, writeJson } from "../model/checkpoint.js";
import { CheckpointError, type TensorMap, readSafetensors, writeSafetensors } from "../model/safetensors.js";

export const STATE_FILE = "trainer_state.json";
export const CHECKPOINT_FORMAT = "acpo-checkpoint";
export const CHECKPOINT_VERSION = 1;

/** A model folder's contents without its location. */
export type ModelFiles = Omit<Checkpoint, "dir">;

/** Everything the loop needs to continue exactly where it stopped. */
export interface CheckpointData {
  /** Optimizer steps completed (the checkpoint holds the state after this step). */
  step: number;
  /** Stage running at that point. */
  stage: string;
  /** Optimizer steps completed in the run when this stage began (its `steps` counter = step - stageStartStep). */
  stageStartStep: number;
  /** Updates skipped for non-finite loss or gradients, cumulative. */
  skippedUpdates: number;
  /** The run's RNG (runtime/rng.ts Rng.state()). */
  rng: Uint32Array;
  /** The loop's own state (sampler position, curriculum priorities, ...): any JSON object, returned as saved. */
  loop: Record<string, unknown>;
  /** The policy: config, tokenizer files and weights (GpuWeights.download()). */
  policy: ModelFiles;
  /** AdamWOptimizer.state(). */
  optimizer: { t: number; tensors: TensorMap };
  /** Frozen reference policies by name; saved with the policy's config and tokenizer. */
  references: Record<string, TensorMap>;
}

export interface LoadedCheckpoint extends Omit<CheckpointData, "policy" | "references"> {
  dir: string;
  policy: Checkpoint;
  references: Record<string, Checkpoint>;
}

const REF_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Write a complete checkpoint into `dir` (which the caller then renames into place). */
export function writeCheckpointDir(dir: string, d: CheckpointData): void {
  if (d.rng.length !== 4) throw new CheckpointError(`saving ${dir}: the RNG state must be 4 words, got ${d.rng.length}`);
  saveCheckpoint(dir, d.policy);
  writeSafetensors(join(dir, "optimizer.safetensors"), d.optimizer.tensors);
  writeJson(join(dir, "optimizer.json"), { t: d.optimizer.t });
  for (const [name, weights] of Object.entries(d.references)) {
    if (!REF_NAME.test(name)) throw new CheckpointError(`saving ${dir}: reference name '${name}' is not a stage name`);
    saveCheckpoint(join(dir, "references", name), { ...d.policy, weights });
  }
  const state = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: d.step,
    stage: d.stage,
    stage_start_step: d.stageStartStep,
    skipped_updates: d.skippedUpdates,
    rng: Array.from(d.rng),
    references: Object.keys(d.references),
    loop: d.loop,
    files: fileSizes(dir),
  };
  writeJson(join(dir, STATE_FILE), state);
}

/** Size of every file under `dir` by relative path ("/"-separated), sorted. */
function fileSizes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p).split("\\").join("/")] = statSync(p).size;
    }
  };
  walk(dir);
  return out;
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("expected an object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message}; truncated?)`);
  }
}

const isInt = (x: unknown, min = 0): x is number => typeof x === "number" && Number.isInteger(x) && x >= min;

/** Read and verify a checkpoint directory; throws CheckpointError naming the bad file. */
export function readCheckpointDir(dir: string): LoadedCheckpoint {
  const statePath = join(dir, STATE_FILE);
  if (!existsSync(statePath)) throw new CheckpointError(`${statePath}: missing (the checkpoint was not completed)`);
  const s = readJson(statePath);
  const bad = (field: string, want: string) => new CheckpointError(`${statePath}: field '${field}' must be ${want}, found ${JSON.stringify(s[field])}`);
  if (s.format !== CHECKPOINT_FORMAT) throw bad("format", JSON.stringify(CHECKPOINT_FORMAT));
  if (s.version !== CHECKPOINT_VERSION) throw bad("version", String(CHECKPOINT_VERSION));
  if (!isInt(s.step)) throw bad("step", "an integer >= 0");
  if (typeof s.stage !== "string") throw bad("stage", "a string");
  if (!isInt(s.stage_start_step) || s.stage_start_step > s.step) throw bad("stage_start_step", `an integer in [0, ${s.step}]`);
  if (!isInt(s.skipped_updates)) throw bad("skipped_updates", "an integer >= 0");
  if (!Array.isArray(s.rng) || s.rng.length !== 4 || !s.rng.every((w) => isInt(w) && w <= 0xffffffff)) throw bad("rng", "4 unsigned 32-bit integers");
  if (typeof s.loop !== "object" || s.loop === null || Array.isArray(s.loop)) throw bad("loop", "an object");
  if (!Array.isArray(s.references) || !s.references.every((r) => typeof r === "string" && REF_NAME.test(r))) throw bad("references", "a list of names");
  if (typeof s.files !== "object" || s.files === null) throw bad("files", "an object of file sizes");

  // Sizes first: a short file is reported as truncated before any parser sees it.
  for (const [rel, size] of Object.entries(s.files as Record<string, unknown>)) {
    const p = join(dir, rel);
    if (!existsSync(p)) throw new CheckpointError(`${p}: missing (listed in ${STATE_FILE})`);
    const actual = statSync(p).size;
    if (actual !== size) throw new CheckpointError(`${p}: ${actual} bytes, but the checkpoint recorded ${String(size)} (truncated or overwritten)`);
  }

  const optPath = join(dir, "optimizer.json");
  const opt = readJson(optPath);
  if (!isInt(opt.t)) throw new CheckpointError(`${optPath}: field 't' must be an integer >= 0, found ${JSON.stringify(opt.t)}`);
  const { tensors } = readSafetensors(join(dir, "optimizer.safetensors"));
  const references: Record<string, Checkpoint> = {};
  for (const name of s.references as string[]) references[name] = loadCheckpoint(join(dir, "references", name));
  return {
    dir,
    step: s.step,
    stage: s.stage,
    stageStartStep: s.stage_start_step,
    skippedUpdates: s.skipped_updates,
    rng: Uint32Array.from(s.rng as number[]),
    loop: s.loop as Record<string, unknown>,
    policy: loadCheckpoint(dir),
    optimizer: { t: opt.t, tensors },
    references,
  };
}
