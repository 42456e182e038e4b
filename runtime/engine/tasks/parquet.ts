// parquet: a user's dataset in Apache Parquet (what Hugging Face datasets ship), with the
// same options, fields, splits and verifiers as jsonl (dataset.ts). Only the columns the
// options name are read. Rows are numbered from 0 in messages, as `ds[12]` in Hugging Face
// datasets and `df.iloc[12]` in pandas.
//
// Reading: hyparquet (with hyparquet-compressors: snappy, gzip, zstd, brotli, lz4) in a
// child process (parquet-read.mjs), because hyparquet is asynchronous and building a task is
// not; the child's JSON is bounded by MAX_PARQUET_JSON_BYTES. Checked here first: the path
// is a regular file and starts and ends with the Parquet magic "PAR1".
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { formatBytes } from "../line-reader.js";
import { DatasetTask, datasetFields, type DatasetRecord } from "./dataset.js";
import { TaskSpecError } from "./types.js";

/** Most JSON the selected columns of one file may come to (far above any dataset a model here trains on). */
export const MAX_PARQUET_JSON_BYTES = 256 << 20;
/** Longest string field, in characters: the jsonl limit for a whole record. */
export const MAX_FIELD_CHARS = 1 << 20;

const READER = fileURLToPath(new URL("./parquet-read.mjs", import.meta.url));
const MAGIC = "PAR1";

export class ParquetTask extends DatasetTask {
  protected readonly emptyHint = "the file has no rows";

  constructor(options: Readonly<Record<string, unknown>>, baseDir?: string) {
    super("parquet", options, baseDir);
    this.loadAll();
  }

  protected *records(file: string): Iterable<DatasetRecord> {
    const { required, optional } = datasetFields(this.options);
    const { columns, rows } = readParquet(file, [...required, ...optional]);
    const missing = required.filter((c) => !columns.includes(c));
    if (missing.length > 0) {
      const which = missing.map((c) => `"${c}"`).join(", ");
      throw this.error(`${file}: no column ${which}; its columns are ${columns.map((c) => `"${c}"`).join(", ")}; name the right one in the task options (promptField, answerField, ...)`);
    }
    for (let i = 0; i < rows.length; i++) {
      const fields = rows[i]!;
      for (const [name, v] of Object.entries(fields)) {
        if (typeof v === "string" && v.length > MAX_FIELD_CHARS) throw this.error(`${file}: row ${i}: field "${name}" is longer than ${MAX_FIELD_CHARS} characters, the limit for one field; shorten it or drop the row`);
      }
      yield { where: `${file}: row ${i}`, source: `${basename(file)}#${i}`, fields };
    }
  }

  private error(what: string): TaskSpecError {
    return new TaskSpecError(`task parquet: ${what}`);
  }
}

/** The named columns (those present) of every row, and the file's column names. */
function readParquet(file: string, wanted: string[]): { columns: string[]; rows: Record<string, unknown>[] } {
  const fail = (what: string): never => {
    throw new TaskSpecError(`task parquet: ${file}: ${what}`);
  };
  checkParquetFile(file, fail);
  const r = spawnSync(process.execPath, [READER, file, JSON.stringify(wanted)], { maxBuffer: MAX_PARQUET_JSON_BYTES, encoding: "utf8" });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === "ENOBUFS") fail(`the columns read (${wanted.join(", ")}) come to more than ${formatBytes(MAX_PARQUET_JSON_BYTES)}; split the file into smaller ones (train/test) or drop rows`);
    fail(`cannot start the Parquet reader (${r.error.message})`);
  }
  let out: { ok: true; columns: string[]; rows: Record<string, unknown>[] } | { ok: false; error: string };
  try {
    out = JSON.parse(r.stdout) as typeof out;
  } catch {
    const why = r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`;
    return fail(`the Parquet reader failed (${why}${r.stderr ? `: ${r.stderr.trim().split("\n").slice(-1)[0]}` : ""}); is the file too large for memory?`);
  }
  if (!out.ok) return fail(`not a readable Parquet file (${out.error}); write it with pyarrow, pandas or datasets' to_parquet`);
  return out;
}

/** A regular file that starts and ends with "PAR1" (a FIFO would block the reader, a device never end). */
function checkParquetFile(file: string, fail: (what: string) => never): void {
  let size: number;
  try {
    const st = statSync(file);
    const kind = st.isFile() ? null : st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO" : st.isCharacterDevice() || st.isBlockDevice() ? "a device" : "not a regular file";
    if (kind !== null) fail(`is ${kind}, not a regular file; give the path of a .parquet file`);
    size = st.size;
  } catch (e) {
    if (e instanceof TaskSpecError) throw e;
    return fail(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
  }
  const head = Buffer.alloc(4), tail = Buffer.alloc(4);
  const fd = openSync(file, "r");
  try {
    readSync(fd, head, 0, 4, 0);
    if (size >= 8) readSync(fd, tail, 0, 4, size - 4);
  } finally {
    closeSync(fd);
  }
  if (size < 12 || head.toString("latin1") !== MAGIC || tail.toString("latin1") !== MAGIC) {
    fail(`not a Parquet file (it must start and end with "PAR1"${size < 12 ? `; it has ${size} bytes` : ""}); for one JSON object per line use task jsonl`);
  }
}
