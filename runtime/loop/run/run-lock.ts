// The lock of a run directory: while a process trains in a run, `DIR/lock` holds its PID, so
// a second `acpo train --resume DIR` (or `--out DIR`) cannot interleave its lines and
// checkpoints with the first's. The lock is a file created with O_EXCL; it is removed when
// the run closes and when the process exits. A process killed outright (SIGKILL, power
// loss) leaves it behind: a lock whose PID no longer runs on this host is stale and is
// taken over with a message.
import { hostname } from "node:os";
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeErrorMessage } from "../../engine/write-errors.js";
import { RunDirError } from "./run-dir-jsonl.js";

export const LOCK_FILE = "lock";

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

/** Lock files this process holds, released at exit whatever the way out. */
const held = new Set<string>();
let exitHook = false;

function releaseAllAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const path of held) removeIfOurs(path);
  });
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as Partial<LockInfo>;
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0 || typeof v.host !== "string") return null;
    return { pid: v.pid as number, host: v.host, started: typeof v.started === "string" ? v.started : "?" };
  } catch {
    return null; // unreadable or cut short: a writer died mid-write
  }
}

/** Whether process `pid` exists on this host (EPERM: it exists but belongs to another user). */
function alive(pid: number): boolean {
  if (pid === process.pid) return false; // our PID, but not in `held`: a previous life of this PID (e.g. a restarted container)
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function removeIfOurs(path: string): void {
  try {
    if (readLock(path)?.pid === process.pid) unlinkSync(path);
  } catch {
    // Already gone; nothing to release.
  }
}

/** Create the lock file exclusively; false when one is already there. */
function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new RunDirError(writeErrorMessage(path, "create the run's lock file", e));
  }
  try {
    const info: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    writeSync(fd, `${JSON.stringify(info)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

export class RunLock {
  private constructor(readonly path: string) {}

  /**
   * Take the lock of run directory `dir`. Throws RunDirError naming the PID when a live
   * process holds it. `notes` receives a message when a stale lock is taken over.
   */
  static acquire(dir: string, notes: string[]): RunLock {
    const path = join(dir, LOCK_FILE);
    if (held.has(path)) throw new RunDirError(`${dir}: this process already has the run open`);
    for (let attempt = 0; !tryCreate(path); attempt++) {
      const info = readLock(path);
      if (info && info.host !== hostname()) {
        throw new RunDirError(`${dir}: in use by process ${info.pid} on host ${info.host} (since ${info.started}; lock file ${path}). If no process there trains this run any more, delete ${path}`);
      }
      if (info && alive(info.pid)) {
        throw new RunDirError(`${dir}: in use by process ${info.pid} (since ${info.started}; lock file ${path}); wait for it to finish or stop it (kill -INT ${info.pid} checkpoints and stops it). If process ${info.pid} is not acpo, delete ${path}`);
      }
      if (attempt > 0) throw new RunDirError(`${path}: another process is taking over this stale lock at the same time; try again`);
      takeOver(path, info);
      notes.push(info ? `${path}: process ${info.pid}, which held the run (since ${info.started}), is no longer running; took over its lock` : `${path}: an unreadable lock (its writer died mid-write); took it over`);
    }
    held.add(path);
    releaseAllAtExit();
    return new RunLock(path);
  }

  release(): void {
    if (!held.delete(this.path)) return;
    removeIfOurs(this.path);
  }
}

/**
 * Move a stale lock out of the way. It is renamed (atomic) and then checked, so that of two
 * processes taking it over at once, the later one cannot delete the earlier one's new lock.
 */
function takeOver(path: string, stale: LockInfo | null): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // someone else moved it: race for the create
    throw new RunDirError(writeErrorMessage(path, "take over the run's stale lock", e));
  }
  const moved = readLock(aside);
  if (moved && stale && moved.pid !== stale.pid && existsSync(aside) && !existsSync(path)) {
    renameSync(aside, path); // a fresh lock, not the stale one: put it back
    throw new RunDirError(`${path}: another process took this run's lock just now (PID ${moved.pid}); try again`);
  }
  rmSync(aside, { force: true });
}
