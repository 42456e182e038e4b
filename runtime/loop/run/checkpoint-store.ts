// The checkpoints of one run directory: atomic saves, the `latest` pointer, keeping the
// last K, and finding the newest complete one on resume.
//
// Save order, so a kill at any point leaves the previous checkpoint usable:
//   1. write checkpoint-<step>.tmp-<pid>/ completely (every file fsynced, trainer_state.json
//      last, with each file's size and SHA-256); non-finite state is refused before any write
//   2. read it back and verify it exactly as resume will   (checksums, parse, finite values)
//   3. rename it to checkpoint-<step>/            (atomic: the name appears only when complete)
//   4. write `latest` (tmp file + rename)         ("checkpoint-<step>\n", for people and tools)
//   5. delete checkpoints beyond the newest K     (renamed to *.del-<pid> first, then removed)
// Rotation therefore runs only after a newer checkpoint has verified: it never deletes the
// last checkpoint that verified, whatever happens to the write. Resume does not trust
// `latest`: it takes the newest checkpoint-<n>/ that reads back and verifies, and reports
// every one it had to pass over.
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { atomicWrite } from "../../engine/model/safetensors.js";
import { type CheckpointData, type LoadedCheckpoint, assertFiniteState, readCheckpointDir, writeCheckpointDir } from "./checkpoint-files.js";
import { ensureDir } from "../../engine/fs-errors.js";

export const LATEST_FILE = "latest";
const NAME = /^checkpoint-(\d+)$/;
const LEFTOVER = /^checkpoint-\d+\.(tmp|del)-\d+$/;

export const checkpointName = (step: number): string => `checkpoint-${step}`;

/** Make directory entries (renames, new files) durable; a no-op where directories cannot be opened. */
function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Steps of the checkpoint-<n> directories in `run`, newest first. */
export function listCheckpoints(run: string): number[] {
  if (!existsSync(run)) return [];
  return readdirSync(run, { withFileTypes: true })
    .filter((e) => e.isDirectory() && NAME.test(e.name))
    .map((e) => Number(NAME.exec(e.name)![1]))
    .sort((a, b) => b - a);
}

/** Rename then delete, so a kill mid-delete never leaves a half checkpoint under a checkpoint-<n> name. */
function removeDir(run: string, name: string): void {
  const gone = join(run, `${name}.del-${process.pid}`);
  rmSync(gone, { recursive: true, force: true });
  renameSync(join(run, name), gone);
  rmSync(gone, { recursive: true, force: true });
}

/** Save one checkpoint atomically and keep the newest `keep` (>= 1). Returns its directory. */
export function saveRunCheckpoint(run: string, data: CheckpointData, keep: number): string {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`checkpoints to keep must be an integer >= 1, got ${keep}`);
  const name = checkpointName(data.step);
  assertFiniteState(join(run, name), data);
  const tmp = join(run, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  ensureDir(tmp);
  try {
    writeCheckpointDir(tmp, data);
    fsyncDir(tmp);
    readCheckpointDir(tmp); // what resume will read must verify now, before older checkpoints go
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // Saving the same step again (e.g. Ctrl-C right after a scheduled save) replaces it.
  if (existsSync(join(run, name))) removeDir(run, name);
  renameSync(tmp, join(run, name));
  fsyncDir(run);
  const pointer = `${name}\n`;
  atomicWrite(join(run, LATEST_FILE), (fd) => writeSync(fd, pointer));
  fsyncDir(run);
  for (const step of listCheckpoints(run).slice(keep)) removeDir(run, checkpointName(step));
  return join(run, name);
}

export interface FoundCheckpoint {
  /** The newest checkpoint that reads back completely; null when there is none. */
  checkpoint: LoadedCheckpoint | null;
  /** Newer checkpoint directories that failed to read, with the reason (newest first). */
  broken: { name: string; reason: string }[];
  /** Routine messages: leftovers of interrupted writes removed. */
  notes: string[];
  /** What a person must be told: checkpoints passed over and why, `latest` out of date, no checksums. */
  warnings: string[];
}

/** Find the newest complete checkpoint of `run`, removing leftovers of interrupted writes. */
export function findCheckpoint(run: string): FoundCheckpoint {
  const notes: string[] = [];
  const warnings: string[] = [];
  for (const e of readdirSync(run, { withFileTypes: true })) {
    if (!e.isDirectory() || !LEFTOVER.test(e.name)) continue;
    const kind = e.name.includes(".tmp-") ? "an incomplete checkpoint (its write was interrupted)" : "a checkpoint whose deletion was interrupted";
    notes.push(`ignoring ${join(run, e.name)}: ${kind}; removed it`);
    rmSync(join(run, e.name), { recursive: true, force: true });
  }
  const latestPath = join(run, LATEST_FILE);
  const latest = existsSync(latestPath) ? readFileSync(latestPath, "utf8").trim() : null;
  const broken: { name: string; reason: string }[] = [];
  for (const step of listCheckpoints(run)) {
    const name = checkpointName(step);
    try {
      const checkpoint = readCheckpointDir(join(run, name));
      if (broken.length > 0) warnings.push(`using the older checkpoint ${join(run, name)} instead (step ${step})`);
      if (latest !== null && latest !== name) warnings.push(`${latestPath} names ${latest}, but the newest complete checkpoint is ${name}`);
      if (!checkpoint.checksummed) warnings.push(`${join(run, name)}: written by an older acpo without checksums; its files were checked for size and finite values only`);
      return { checkpoint, broken, notes, warnings };
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      broken.push({ name, reason });
      warnings.push(`checkpoint ${join(run, name)} is unusable: ${reason}`);
    }
  }
  return { checkpoint: null, broken, notes, warnings };
}

/** Move an unusable checkpoint aside (checkpoint-<n>.broken[-k]) so a new save of that step can take its name. */
export function setAside(run: string, name: string): string {
  let target = `${name}.broken`;
  for (let k = 2; existsSync(join(run, target)); k++) target = `${name}.broken-${k}`;
  renameSync(join(run, name), join(run, target));
  return join(run, target);
}
