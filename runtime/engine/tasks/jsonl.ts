// jsonl: a user's dataset, one JSON object per line, scored by a chosen verifier
// (options, fields, splits and verifiers: dataset.ts, shared with Parquet).
//
// Line policy (nothing is silently skipped):
// - A line that is empty or only whitespace is ignored: it holds no record (this is how
//   a trailing newline at the end of the file reads). Every other line must be a JSON object.
// - Bad JSON, a non-object, a missing field or a field of the wrong type is an error that
//   names file:line, the field, and what to write instead. Loading stops at the first one.
// - A UTF-8 byte-order mark at the start and CRLF line ends are accepted. Lines must be UTF-8
//   (a bad byte is an error naming file:line, never replaced by U+FFFD) and at most
//   MAX_LINE_BYTES long; the file is read in chunks, so a huge line never sits in memory.
//   The path must be a regular file (a FIFO or a device is refused: it would hang or never end).
import { basename } from "node:path";
import { readLines } from "../line-reader.js";
import { DatasetTask, type DatasetOptions, type DatasetProblem, type DatasetRecord, type DatasetVerifier } from "./dataset.js";
import { TaskSpecError } from "./types.js";

/** Longest record line, in bytes (runtime/engine/tasks/README.md): far above any prompt a model here can read. */
export const MAX_LINE_BYTES = 1 << 20;

export type JsonlVerifier = DatasetVerifier;
export type JsonlOptions = DatasetOptions;
export type JsonlProblem = DatasetProblem;

export class JsonlTask extends DatasetTask {
  protected readonly emptyHint = "every line is blank; write one JSON object per line";

  constructor(options: Readonly<Record<string, unknown>>, baseDir?: string) {
    super("jsonl", options, baseDir);
    this.loadAll();
  }

  protected *records(file: string): Iterable<DatasetRecord> {
    const lines = readLines(file, { maxLineBytes: MAX_LINE_BYTES, error: (what) => new TaskSpecError(`task jsonl: ${what}`) });
    for (const { no, text } of lines) {
      if (text.trim() === "") continue;
      yield { where: `${file}:${no}`, source: `${basename(file)}:${no}`, fields: parseLine(`${file}:${no}`, text, this.options.promptField) };
    }
  }
}

/** One non-blank line as a JSON object, or an error naming file:line. */
function parseLine(where: string, line: string, promptField: string): Record<string, unknown> {
  const fail = (what: string): never => {
    throw new TaskSpecError(`task jsonl: ${where}: ${what}`);
  };
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message}); each non-blank line must be one JSON object`);
  }
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) fail(`expected a JSON object like {"${promptField}": ...}, got ${Array.isArray(rec) ? "an array" : JSON.stringify(rec)}`);
  return rec as Record<string, unknown>;
}
