// JSON-lines files of a run directory (metrics.jsonl, eval.jsonl, samples.jsonl): append
// whole lines, and cut a file back to a checkpoint on resume.
//
// Crash safety: each append is one write() of complete lines ending in "\n", so a SIGKILL
// can at worst leave the last line partial, never damage an earlier one. On resume
// `truncateJsonl` drops a partial last line and every line whose `step` is after the
// checkpoint, so a resumed run appends exactly what an uninterrupted run would have.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { atomicWrite } from "../../engine/model/safetensors.js";
import { writeErrorMessage } from "../../engine/write-errors.js";

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

  constructor(
    readonly path: string,
    /** How to continue after a write error is fixed, e.g. "then continue with --resume DIR". */
    private readonly after?: string,
  ) {
    try {
      this.fd = openSync(path, "a");
    } catch (e) {
      throw new RunDirError(writeErrorMessage(path, "open for appending", e, after));
    }
  }

  /** Append the objects as lines with a single write, so a kill cannot interleave or split earlier lines. */
  append(values: readonly unknown[]): void {
    if (values.length === 0) return;
    if (this.fd === null) throw new RunDirError(`${this.path}: appended to after close`);
    const buf = Buffer.from(values.map(jsonLine).join(""), "utf8");
    let off = 0;
    try {
      // write(2) on a regular file writes everything unless the disk is full; loop for the rest.
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (e) {
      throw new RunDirError(writeErrorMessage(this.path, "append", e, this.after));
    }
  }

  /** Flush to disk (before a checkpoint names these lines as done). */
  sync(): void {
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } catch (e) {
      throw new RunDirError(writeErrorMessage(this.path, "flush to disk", e, this.after));
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export interface TruncateResult {
  kept: number;
  /** Each kept line's 1-based number (as the file was read) and `step`, in file order. */
  keptLines: { line: number; step: number }[];
  /** Lines dropped for steps after the checkpoint. */
  dropped: number;
  /** Whether an incomplete last line (a write cut by a kill) was removed. */
  partial: boolean;
  /** The removed incomplete line: its 1-based number and, when its text got that far, its `step`. */
  partialLine: { line: number; step: number | null } | null;
}

/**
 * The `step` of a line cut short, when the cut came after it. Lines are written by
 * JSON.stringify, so the field reads exactly `"step":<digits>` followed by `,` or `}`.
 */
function stepOfCutLine(text: string): number | null {
  const m = /"step":(\d+)[,}]/.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Keep only the complete lines with `step <= lastStep` (lines without a numeric `step` are
 * an error: every line a run writes has one). Rewrites the file atomically when anything
 * changes; a missing file is left missing.
 */
export function truncateJsonl(path: string, lastStep: number): TruncateResult {
  if (!existsSync(path)) return { kept: 0, keptLines: [], dropped: 0, partial: false, partialLine: null };
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  // After the final "\n" split leaves "", else the tail is a line cut short.
  const tail = lines.pop()!;
  const partial = tail !== "";
  const kept: string[] = [];
  const keptLines: { line: number; step: number }[] = [];
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
    if (step <= lastStep) {
      kept.push(line);
      keptLines.push({ line: i + 1, step });
    } else dropped++;
  });
  if (partial || dropped > 0) {
    const out = kept.map((l) => `${l}\n`).join("");
    try {
      atomicWrite(path, (fd) => writeSync(fd, out));
    } catch (e) {
      throw new RunDirError(writeErrorMessage(path, "cut the file back to the checkpoint", e, "then run --resume again"));
    }
  }
  return { kept: kept.length, keptLines, dropped, partial, partialLine: partial ? { line: lines.length + 1, step: stepOfCutLine(tail) } : null };
}

/** "step 4" or "steps 3-5". */
const stepsText = (a: number, b: number): string => (a === b ? `step ${a}` : `steps ${a}-${b}`);

/**
 * What is wrong with metrics.jsonl's lines up to a checkpoint at `lastStep`: a run writes one
 * line per step 1..lastStep, in order, and fsyncs them before the checkpoint, so a missing,
 * repeated or out-of-order step is damage done to the file afterwards (an editor, a copy cut
 * short, a disk problem). One message per gap, naming the file and line.
 */
export function metricsGaps(path: string, kept: readonly { line: number; step: number }[], lastStep: number): string[] {
  const out: string[] = [];
  const lost = `before the checkpoint at step ${lastStep}; those metrics are lost and the resumed run continues without them`;
  let next = 1, lastLine = 0;
  for (const { line, step } of kept) {
    if (step > next) out.push(`${path}:${line}: this line is step ${step}, but no line for ${stepsText(next, step - 1)} comes before it, ${lost}`);
    else if (step < next) out.push(`${path}:${line}: step ${step} again, after step ${next - 1} (a repeated or out-of-order line)`);
    next = Math.max(next, step + 1);
    lastLine = line;
  }
  if (next <= lastStep) out.push(`${path}:${lastLine + 1}: no line for ${stepsText(next, lastStep)} (the file ${lastLine === 0 ? "is empty" : `ends at line ${lastLine}, step ${next - 1}`}), ${lost}`);
  return out;
}
