// Reading JSON-lines files with bounded memory: the file is read in chunks, and a line
// longer than the caller's limit is an error naming file:line as soon as the limit is
// passed, without holding the rest of it (a line of tens of MB, or /dev/zero given as a
// file, used to be read whole and could abort the process with V8 out of memory). Each
// line must be UTF-8: bad bytes are an error naming the line and the byte, never U+FFFD.
import { closeSync, openSync, readSync, statSync } from "node:fs";

export interface Line {
  /** 1-based line number. */
  no: number;
  /** The line without its "\n" (and without a "\r" before it, nor a BOM at the start of the file). */
  text: string;
  /** False for a last line with no "\n" after it (a write cut short leaves one). */
  terminated: boolean;
}

export interface LineReaderOptions {
  /** Longest line accepted, in bytes, not counting its line end. */
  maxLineBytes: number;
  /** Builds the error to throw; `what` already starts with the file (and `:line` where there is one). */
  error: (what: string) => Error;
}

const CHUNK = 1 << 16;
const NEWLINE = 0x0a;

/** A byte count as people read it: "1 MiB", "16 MiB", "300 bytes". */
export function formatBytes(n: number): string {
  return n >= 1 << 20 && n % (1 << 20) === 0 ? `${n / (1 << 20)} MiB` : n >= 1024 && n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

/** The lines of a regular file, in order. Errors (unreadable, not a regular file, line too long, not UTF-8) come from `opts.error`. */
export function* readLines(path: string, opts: LineReaderOptions): Generator<Line> {
  openRegularFile(path, opts); // checks before the generator's first line, and closes again
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(CHUNK);
    let parts: Buffer[] = [];
    let pending = 0; // bytes in parts
    let no = 1;
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      let at = 0;
      while (at < n) {
        const nl = chunk.indexOf(NEWLINE, at);
        const end = nl < 0 || nl >= n ? n : nl;
        if (pending + (end - at) > opts.maxLineBytes) throw tooLong(path, no, opts);
        parts.push(Buffer.from(chunk.subarray(at, end)));
        pending += end - at;
        if (end === n) break;
        yield { no, text: decodeLine(path, no, Buffer.concat(parts, pending), opts), terminated: true };
        parts = [];
        pending = 0;
        no++;
        at = end + 1;
      }
    }
    if (pending > 0) yield { no, text: decodeLine(path, no, Buffer.concat(parts, pending), opts), terminated: false };
  } finally {
    closeSync(fd);
  }
}

/** Open-and-close check that `path` is a readable regular file: a FIFO would block the open, a device never ends. */
function openRegularFile(path: string, opts: LineReaderOptions): void {
  let kind: string;
  try {
    const st = statSync(path);
    kind = st.isFile() ? "file" : st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO" : st.isCharacterDevice() || st.isBlockDevice() ? "a device" : st.isSocket() ? "a socket" : "not a regular file";
    if (kind === "file") closeSync(openSync(path, "r"));
  } catch (e) {
    throw opts.error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
  }
  if (kind !== "file") throw opts.error(`${path}: is ${kind}, not a regular file; write the records to a file and give its path`);
}

function tooLong(path: string, no: number, opts: LineReaderOptions): Error {
  return opts.error(`${path}:${no}: line is longer than ${formatBytes(opts.maxLineBytes)}, the limit for one record; shorten or split it (is this a JSON-lines file?)`);
}

const BOM = "\uFEFF";

function decodeLine(path: string, no: number, bytes: Buffer, opts: LineReaderOptions): string {
  let text: string;
  try {
    // ignoreBOM: keep a BOM in the text; only the one at the start of the file is dropped (below).
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const at = firstInvalidByte(bytes);
    throw opts.error(`${path}:${no}: not valid UTF-8 (byte ${at + 1} of the line is 0x${bytes[at]!.toString(16).padStart(2, "0")}); save the file as UTF-8`);
  }
  if (no === 1 && text.startsWith(BOM)) text = text.slice(1);
  return text.endsWith("\r") ? text.slice(0, -1) : text;
}

/**
 * Offset of the byte that starts the first invalid UTF-8 sequence in `bytes` (only called
 * on the error path). A streaming decode accepts an incomplete sequence at the end of its
 * input, so binary search finds the shortest prefix that fails even so; the bad sequence
 * then starts where the longest complete, valid prefix before it ends (at most 3 bytes back).
 */
function firstInvalidByte(bytes: Uint8Array): number {
  const fails = (k: number, stream: boolean): boolean => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, k), { stream });
      return false;
    } catch {
      return true;
    }
  };
  let hi = bytes.length; // when even the whole line passes a streaming decode, only its end is cut short
  if (fails(hi, true)) {
    let lo = 0; // invariant: fails(lo, true) is false, fails(hi, true) is true
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fails(mid, true)) hi = mid;
      else lo = mid;
    }
    hi -= 1; // bytes[0, hi) decode in streaming mode
  }
  for (let k = hi; k >= Math.max(0, hi - 3); k--) if (!fails(k, false)) return k;
  return Math.max(0, hi - 3);
}
