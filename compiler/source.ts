// Source text and positions. Every diagnostic points into a Source by byte-free
// character offsets; line and column are 1-based, as editors and `file:line:col` expect.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";

/** A region of a source file: offsets are 0-based, `end` exclusive; line/col 1-based. */
export interface Span {
  file: string;
  start: number;
  end: number;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

/** The text of one file (or of a `--set` argument) with a line index. */
export class Source {
  private readonly lineStarts: number[];

  constructor(readonly path: string, readonly text: string) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of a 0-based offset (clamped into the text). */
  position(offset: number): { line: number; col: number } {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: o - this.lineStarts[lo]! + 1 };
  }

  span(start: number, end: number): Span {
    const s = this.position(start);
    const e = this.position(Math.max(start, end));
    return { file: this.path, start, end: Math.max(start, end), line: s.line, col: s.col, endLine: e.line, endCol: e.col };
  }

  /** The text of a 1-based line, without its newline. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return "";
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, "");
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }
}

/** Join two spans of the same file into the span covering both. */
export function joinSpans(a: Span, b: Span): Span {
  const first = a.start <= b.start ? a : b;
  const last = a.end >= b.end ? a : b;
  return { file: a.file, start: first.start, end: last.end, line: first.line, col: first.col, endLine: last.endLine, endCol: last.endCol };
}

/** Largest source file accepted: pipelines are a page or two; anything this big is a mistake. */
export const MAX_SOURCE_BYTES = 1 << 20;

/** Why a file could not be read as pipeline source; `code` is a diagnostic code. */
export interface ReadFailure {
  code: "E0001" | "E0002" | "E0003" | "E0004" | "E0005" | "E0006";
  message: string;
  hint?: string;
}

/**
 * Read a file as `.acpo` source, rejecting what cannot be source text before the
 * lexer sees it: missing or unreadable files, directories and other non-regular files
 * (devices such as /dev/zero, FIFOs, sockets), oversize files, invalid UTF-8, binary
 * content (NUL or other control bytes), empty or blank files.
 */
export function readSource(path: string): Source | ReadFailure {
  const read = readBounded(path);
  return "code" in read ? read : decodeSource(path, read.bytes);
}

/**
 * The file's bytes, at most MAX_SOURCE_BYTES + 1 of them: what is read is bounded, not
 * what `stat` reports (a device reports size 0 and never ends). The file is opened
 * non-blocking, so a FIFO without a writer cannot hang the open, and its kind is taken
 * from the open descriptor (fstat), so it cannot change between the check and the read.
 */
function readBounded(path: string): { bytes: Uint8Array } | ReadFailure {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { code: "E0001", message: `cannot read ${path}: no such file` };
    if (code === "EACCES") return { code: "E0001", message: `cannot read ${path}: permission denied` };
    return { code: "E0001", message: `cannot read ${path}: ${code ?? String(e)}` };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { code: "E0001", message: `${path} is a directory, not a pipeline file` };
    if (!st.isFile()) return { code: "E0001", message: `${path} is ${fileKind(st)}, not a regular file; pipeline files are plain text files` };
    const buf = Buffer.alloc(MAX_SOURCE_BYTES + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === buf.length) {
        const size = st.size > MAX_SOURCE_BYTES ? `${st.size} bytes` : `more than ${MAX_SOURCE_BYTES} bytes`;
        return { code: "E0005", message: `${path} is ${size}; pipeline files are limited to ${MAX_SOURCE_BYTES} bytes (1 MiB)` };
      }
    }
    return { bytes: buf.subarray(0, n) };
  } catch (e) {
    return { code: "E0001", message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  } finally {
    closeSync(fd);
  }
}

function fileKind(st: Stats): string {
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** Validate and decode raw bytes (separate from I/O so that tests can feed bytes directly). */
export function decodeSource(path: string, bytes: Uint8Array): Source | ReadFailure {
  if (bytes.length > MAX_SOURCE_BYTES)
    return { code: "E0005", message: `${path} is ${bytes.length} bytes; pipeline files are limited to ${MAX_SOURCE_BYTES} bytes (1 MiB)` };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    return { code: "E0002", message: `${path} is not valid UTF-8 (first bad byte at offset ${at}); is it a binary file?` };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM is harmless; drop it so columns match editors
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || (c < 32 && c !== 9 && c !== 10 && c !== 13)) {
      return { code: "E0003", message: `${path} contains binary data (control byte 0x${c.toString(16).padStart(2, "0")} at offset ${i}); pipeline files are plain text` };
    }
  }
  if (text.trim() === "") return { code: "E0004", message: `${path} is empty; expected a pipeline: pipeline NAME { ... }` };
  // A carriage return alone ends a line in old Mac files; here lines end at \n, so such a
  // file would be one line (a `#` comment would swallow everything after it).
  const cr = text.search(/\r(?!\n)/);
  if (cr >= 0) {
    const line = text.slice(0, cr).split("\n").length;
    return { code: "E0006", message: `${path} ends lines with a bare carriage return (CR, first at line ${line}, offset ${cr}); lines must end with LF or CRLF`, hint: "convert the line endings, e.g. `tr '\\r' '\\n' < old.acpo > new.acpo`" };
  }
  return new Source(path, text);
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  // Binary search for the shortest failing prefix. Streaming mode tolerates a prefix
  // cut inside a valid multi-byte sequence, so only truly invalid bytes fail.
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    let ok = true;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, mid + 1), { stream: true });
    } catch {
      ok = false;
    }
    if (ok) lo = mid + 1;
    else hi = mid;
  }
  // The decoder fails at the first byte that cannot continue a sequence; the culprit
  // is the unfinished sequence's lead byte when there is one just before it.
  for (let j = lo - 1; j >= 0 && j >= lo - 3; j--) {
    const b = bytes[j]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return j + need > lo ? j : lo;
  }
  return lo;
}
