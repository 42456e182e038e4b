// Child process of parquet.ts: reads the named columns of one Parquet file with hyparquet
// and writes them to stdout as one JSON object. hyparquet is asynchronous and task loading
// is synchronous, so parquet.ts runs this with spawnSync (a crash or an out-of-memory here
// ends the child, never hangs the caller). Plain JavaScript: it runs under bare node.
//
// argv: FILE COLUMNS_JSON. Output: {"ok":true,"columns":[schema names],"rows":[{...}]}
// or {"ok":false,"error":"..."}. Values become JSON: a 64-bit integer is a number when it is
// exact as a double, else its decimal string; NaN and infinities are the strings "NaN",
// "Infinity", "-Infinity" (JSON has no such numbers; a verifier then refuses them by
// name instead of seeing null); bytes that are valid UTF-8 are a string, others
// {"binary": N}; dates are ISO strings.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";

const utf8 = new TextDecoder("utf-8", { fatal: true });

function jsonValue(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === "number") return Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : String(v);
  if (v instanceof Uint8Array) {
    try {
      return utf8.decode(v);
    } catch {
      return { binary: v.length };
    }
  }
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v, jsonValue);
  if (typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) out[k] = jsonValue(v[k]);
    return out;
  }
  return v;
}

async function main() {
  const [file, spec] = process.argv.slice(2);
  const wanted = JSON.parse(spec);
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  const read = wanted.filter((c) => columns.includes(c));
  const rows = read.length === 0 ? [] : await parquetReadObjects({ file: buffer, metadata, columns: read, compressors, rowFormat: "object" });
  return { ok: true, columns, rows: rows.map(jsonValue) };
}

let out;
try {
  out = await main();
} catch (e) {
  out = { ok: false, error: e instanceof Error ? e.message : String(e) };
}
process.stdout.write(JSON.stringify(out));
