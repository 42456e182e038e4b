// Output paths of commands that write (report -o, compile -o, sft -o): create folders safely,
// check early that a folder takes files, and tell a failed write by the path that failed,
// in words, with the fix (runtime/engine/write-errors.ts holds the wording per errno code).
import { closeSync, mkdirSync, openSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { errnoCode, writeErrorMessage } from "./write-errors.js";

/** The temporary name atomicWrite (runtime/engine/model/safetensors.ts) writes before its rename. */
const TMP_SUFFIX = /\.tmp-\d+$/;

/**
 * The path a failed file-system call names (the file inside an output folder that could not
 * be written, say), without atomicWrite's temporary suffix; `fallback` when it names none.
 */
export function failedPath(e: unknown, fallback: string): string {
  const p = (e as NodeJS.ErrnoException | null)?.path;
  return typeof p === "string" && p !== "" ? p.replace(TMP_SUFFIX, "") : fallback;
}

/** "<the path that failed>: cannot <action>: <why>; <fix>" for a write under `out`. */
export function outputErrorMessage(out: string, action: string, e: unknown, after?: string): string {
  return writeErrorMessage(errnoCode(e) ? failedPath(e, out) : out, action, e, after);
}

/**
 * mkdir -p, one component at a time: ENOTDIR naming the file when a part of the path above
 * `dir` is a file (or device), EEXIST when `dir` itself is one. Node's
 * `mkdirSync(p, { recursive: true })` never returns for some paths (under /proc it loops on
 * ENOENT); this fails with the errno error instead.
 */
export function ensureDir(dir: string): void {
  const abs = resolve(dir);
  const blocker = firstNonFolder(abs);
  if (blocker !== null && blocker !== abs) throw errnoError("ENOTDIR", "not a directory", blocker);
  if (isDir(abs)) return;
  const parent = dirname(abs);
  if (parent !== abs) ensureDir(parent);
  try {
    mkdirSync(abs);
  } catch (e) {
    if (errnoCode(e) !== "EEXIST" || !isDir(abs)) throw e;
  }
}

/** The first path on the way to `abs` (itself included) that exists and is not a folder. */
function firstNonFolder(abs: string): string | null {
  const parent = dirname(abs);
  const above = parent === abs ? null : firstNonFolder(parent);
  if (above !== null) return above;
  try {
    return statSync(abs).isDirectory() ? null : abs;
  } catch {
    return null;
  }
}

function errnoError(code: string, what: string, path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${what}, mkdir '${path}'`);
  e.code = code;
  e.path = path;
  e.syscall = "mkdir";
  return e;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Create `dir` if needed and write (then remove) a small file in it, so that a command that
 * computes for minutes before saving learns at once that the folder takes no files.
 * Throws the file-system error (see outputErrorMessage).
 */
export function probeWritableDir(dir: string): void {
  ensureDir(dir);
  const probe = resolve(dir, `.acpo-write-test-${process.pid}`);
  const fd = openSync(probe, "w");
  try {
    writeSync(fd, "acpo\n");
  } finally {
    closeSync(fd);
    unlinkSync(probe);
  }
}
