// JSON-lines files of a run directory (metrics.jsonl, eval.jsonl, samples.jsonl): append
// whole lines, and cut a file back to a checkpoint on resume.
//
// Crash safety: each append is one write() of complete lines ending in "\n", so a SIGKILL
// can at worst leave the last line partial, never damage an earlier one. On resume
// `truncateJsonl` drops a partial last line and every line whose `step` is after the
// checkpoint, so a resumed run appends exactly what an uninterrupted run would have.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { atomicWrite } from "../model/safetensors.js";

/** A problem with a run directory; the message names the file (and line). */
export class RunDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunDirError";
  }
}

/**
 * One JSON line. NaN and ±Infinity become null (JSON has no literal for them; the readers,
 * e.g. compiler/plan/batch-file.ts, read null back as NaN); typed arrays become arrays.
 */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v))}\n`;
}

/** Append-only writer of one .jsonl file (created when missing). */
export class JsonlWriter {
  private fd: number | null;

  constructor(readonly path: string) {
    this.fd = openSync(path, "a");
  }

  /** Append the objects as lines with a single write, so a kill cannot interleave or split earlier lines. */
  append(values: readonly unknown[]): void {
    if (values.length === 0) return;
    if (this.fd === null) throw new RunDirError(`${this.path}: appended to after close`);
    const buf = Buffer.from(values.map(jsonLine).join(""), "utf8");
    let off = 0;
    // write(2) on a regular file writes everything unless the disk is full; loop for the rest.
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }

  /** Flush to disk (before a checkpoint names these lines as done). */
  sync(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export interface TruncateResult {
  kept: number;
  /** Lines dropped for steps after the checkpoint. */
  dropped: number;
  /** Whether an incomplete last line (a write cut by a kill) was removed. */
  partial: boolean;
}

/**
 * Keep only the complete lines with `step <= lastStep` (lines without a numeric `step` are
 * an error: every line a run writes has one). Rewrites the file atomically when anything
 * changes; a missing file is left missing.
 */
export function truncateJsonl(path: string, lastStep: number): TruncateResult {
  if (!existsSync(path)) return { kept: 0, dropped: 0, partial: false };
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  // After the final "\n" split leaves "", else the tail is a line cut short.
  const tail = lines.pop()!;
  const partial = tail !== "";
  const kept: string[] = [];
  let dropped = 0;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new RunDirError(`${path}:${i + 1}: not valid JSON (${(e as Error).message}); only the last line of a run file can be cut short by a crash`);
    }
    const step = (obj as { step?: unknown } | null)?.step;
    if (typeof step !== "number") throw new RunDirError(`${path}:${i + 1}: line has no numeric 'step' field`);
    if (step <= lastStep) kept.push(line);
    else dropped++;
  });
  if (partial || dropped > 0) {
    const out = kept.map((l) => `${l}\n`).join("");
    atomicWrite(path, (fd) => writeSync(fd, out));
  }
  return { kept: kept.length, dropped, partial };
}
