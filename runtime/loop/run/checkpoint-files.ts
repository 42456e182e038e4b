// One training checkpoint directory (spec/run.md "Checkpoints"):
//   config.json, model.safetensors, tokenizer*.json, generation_config.json
//                            the policy in the Hugging Face layout (`acpo eval --model` reads it)
//   optimizer.safetensors    AdamW moments: <param>.exp_avg, <param>.exp_avg_sq (f32)
//   optimizer.json           {"t": completed AdamW steps}
//   references/<name>/       each frozen reference policy, HF layout (name: the stage that froze it, or "initial")
//   trainer_state.json       the counters, the prompt sampler's state, the RNG state, and the
//                            size and SHA-256 of every other file; written last
// Writing refuses non-finite weights or optimizer moments (they would poison every later
// step). Reading checks every file against the recorded size and checksum, parses it and
// refuses non-finite values, so a truncated, overwritten or corrupt checkpoint is a
// CheckpointError naming the file (and tensor), never a crash or a silent NaN run later.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { type Checkpoint, loadCheckpoint, saveCheckpoint, writeJson } from "../../engine/model/checkpoint.js";
import { CheckpointError, type TensorMap, firstNonFinite, readSafetensors, writeSafetensors } from "../../engine/model/safetensors.js";

export const STATE_FILE = "trainer_state.json";
export const CHECKPOINT_FORMAT = "acpo-checkpoint";
/**
 * 3: the prompt sampler's state is `sampler` (versions 1 and 2 called it `loop`).
 * 2: `files` holds {bytes, sha256} per file. 1 (sizes only) is still read, with a note.
 */
export const CHECKPOINT_VERSION = 3;

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
  /** The run's RNG (runtime/engine/rng.ts Rng.state()). */
  rng: Uint32Array;
  /** The prompt sampler's state (position, curriculum priorities, ...): any JSON object, returned as saved. */
  sampler: Record<string, unknown>;
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
  /** Whether every file was verified against a recorded SHA-256 (false for version-1 checkpoints, which record sizes only). */
  checksummed: boolean;
}

/** A message naming the first non-finite entry of one of `tensors`, or null when all are finite. */
function nonFinite(where: string, tensors: TensorMap): string | null {
  for (const [name, t] of tensors) {
    const i = firstNonFinite(t.data);
    if (i < 0) continue;
    const n = t.data.reduce((k, v) => k + (Number.isFinite(v) ? 0 : 1), 0);
    return `${where}: tensor '${name}' holds ${n} non-finite value${n === 1 ? "" : "s"} (first: ${t.data[i]} at flat index ${i})`;
  }
  return null;
}

/** Refuse to save a state that holds NaN or ±Infinity: a checkpoint must be one a run can continue from. */
export function assertFiniteState(dir: string, d: CheckpointData): void {
  const bad =
    nonFinite("the policy", d.policy.weights) ??
    nonFinite("the optimizer state", d.optimizer.tensors) ??
    Object.entries(d.references).map(([name, w]) => nonFinite(`the reference '${name}'`, w)).find((m) => m !== null) ??
    null;
  if (bad) throw new CheckpointError(`not saving ${dir}: ${bad}; the earlier checkpoints are kept`);
}

const REF_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Write a complete checkpoint into `dir` (which the caller then renames into place); assertFiniteState first. */
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
    sampler: d.sampler,
    files: fileDigests(dir),
  };
  writeJson(join(dir, STATE_FILE), state);
}

interface FileDigest {
  bytes: number;
  sha256: string;
}

/** SHA-256 of a file's bytes as hex. Reads the file back, so the digest is of what reached the file. */
function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Size and SHA-256 of every file under `dir` by relative path ("/"-separated), sorted. */
function fileDigests(dir: string): Record<string, FileDigest> {
  const out: Record<string, FileDigest> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p).split("\\").join("/")] = { bytes: statSync(p).size, sha256: sha256(p) };
    }
  };
  walk(dir);
  return out;
}

/** The recorded size (and checksum, from version 2) of one file, or a description of what is wrong. */
function recordedFile(version: number, v: unknown): FileDigest | { bytes: number; sha256: null } | string {
  if (version === 1) return typeof v === "number" && Number.isInteger(v) && v >= 0 ? { bytes: v, sha256: null } : "a size in bytes";
  const d = v as Partial<FileDigest> | null;
  const ok = typeof d === "object" && d !== null && Number.isInteger(d.bytes) && (d.bytes as number) >= 0 && typeof d.sha256 === "string" && /^[0-9a-f]{64}$/.test(d.sha256);
  return ok ? (d as FileDigest) : "{bytes, sha256}";
}

/**
 * Check every file listed in trainer_state.json: present, of the recorded size (a short file
 * is reported as truncated before any parser sees it), and with the recorded SHA-256 (a file
 * overwritten in place, e.g. with NaN of the same size, is caught here).
 */
function verifyFiles(dir: string, version: number, files: Record<string, unknown>): void {
  const statePath = join(dir, STATE_FILE);
  for (const [rel, v] of Object.entries(files)) {
    const p = join(dir, rel);
    const want = recordedFile(version, v);
    if (typeof want === "string") throw new CheckpointError(`${statePath}: files['${rel}'] must be ${want}, found ${JSON.stringify(v)}`);
    if (rel.split("/").includes("..")) throw new CheckpointError(`${statePath}: files names '${rel}', outside the checkpoint`);
    if (!existsSync(p)) throw new CheckpointError(`${p}: missing (listed in ${STATE_FILE})`);
    const actual = statSync(p).size;
    if (actual !== want.bytes) throw new CheckpointError(`${p}: ${actual} bytes, but the checkpoint recorded ${want.bytes} (truncated or overwritten)`);
    if (want.sha256 !== null && sha256(p) !== want.sha256) {
      throw new CheckpointError(`${p}: SHA-256 differs from the one recorded in ${STATE_FILE} (the file changed after the checkpoint was written: overwritten or corrupted on disk)`);
    }
  }
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

/** Where a checkpoint of this version keeps the prompt sampler's state: older ones named it `loop`. */
function samplerFieldOf(version: number): "sampler" | "loop" {
  return version >= 3 ? "sampler" : "loop";
}

/** Read and verify a checkpoint directory; throws CheckpointError naming the bad file. */
export function readCheckpointDir(dir: string): LoadedCheckpoint {
  const statePath = join(dir, STATE_FILE);
  if (!existsSync(statePath)) throw new CheckpointError(`${statePath}: missing (the checkpoint was not completed)`);
  const s = readJson(statePath);
  const bad = (field: string, want: string) => new CheckpointError(`${statePath}: field '${field}' must be ${want}, found ${JSON.stringify(s[field])}`);
  if (s.format !== CHECKPOINT_FORMAT) throw bad("format", JSON.stringify(CHECKPOINT_FORMAT));
  if (s.version !== CHECKPOINT_VERSION && s.version !== 2 && s.version !== 1) throw bad("version", `${CHECKPOINT_VERSION} (or 2, 1)`);
  if (!isInt(s.step)) throw bad("step", "an integer >= 0");
  if (typeof s.stage !== "string") throw bad("stage", "a string");
  if (!isInt(s.stage_start_step) || s.stage_start_step > s.step) throw bad("stage_start_step", `an integer in [0, ${s.step}]`);
  if (!isInt(s.skipped_updates)) throw bad("skipped_updates", "an integer >= 0");
  if (!Array.isArray(s.rng) || s.rng.length !== 4 || !s.rng.every((w) => isInt(w) && w <= 0xffffffff)) throw bad("rng", "4 unsigned 32-bit integers");
  const samplerField = samplerFieldOf(s.version as number);
  const sampler = s[samplerField];
  if (typeof sampler !== "object" || sampler === null || Array.isArray(sampler)) throw bad(samplerField, "an object");
  if (!Array.isArray(s.references) || !s.references.every((r) => typeof r === "string" && REF_NAME.test(r))) throw bad("references", "a list of names");
  if (typeof s.files !== "object" || s.files === null || Array.isArray(s.files)) throw bad("files", "an object of file sizes and checksums");
  verifyFiles(dir, s.version as number, s.files as Record<string, unknown>);

  const optPath = join(dir, "optimizer.json");
  const opt = readJson(optPath);
  if (!isInt(opt.t)) throw new CheckpointError(`${optPath}: field 't' must be an integer >= 0, found ${JSON.stringify(opt.t)}`);
  const optTensors = join(dir, "optimizer.safetensors");
  const { tensors } = readSafetensors(optTensors);
  const badMoment = nonFinite(optTensors, tensors);
  if (badMoment) throw new CheckpointError(`${badMoment}; the optimizer state is corrupt or diverged — use an earlier checkpoint`);
  const references: Record<string, Checkpoint> = {};
  for (const name of s.references as string[]) references[name] = loadCheckpoint(join(dir, "references", name));
  return {
    dir,
    step: s.step,
    stage: s.stage,
    stageStartStep: s.stage_start_step,
    skippedUpdates: s.skipped_updates,
    rng: Uint32Array.from(s.rng as number[]),
    sampler: sampler as Record<string, unknown>,
    policy: loadCheckpoint(dir),
    optimizer: { t: opt.t, tensors },
    references,
    checksummed: s.version !== 1,
  };
}
