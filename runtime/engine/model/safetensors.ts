// Hugging Face safetensors files: read (F32, F16, BF16, F64 upcast to f32) and write (F32),
// single-file and sharded (model.safetensors.index.json). Writes are atomic: write a
// temporary file beside the target, then rename, so a crash never leaves a half file.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import { IGNORED_TENSOR } from "./layout.js";

export interface NamedTensor {
  shape: number[];
  data: Float32Array; // row-major, upcast to f32
}

export type TensorMap = Map<string, NamedTensor>;

/** A problem with a checkpoint file; the message names the file (and tensor where relevant). */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const MAX_HEADER = 100 * 1024 * 1024; // the reference implementation's limit

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Read every tensor of one .safetensors file, upcast to f32.
 *
 * The header is validated as strictly as the reference implementation (huggingface/safetensors)
 * does: a JSON object whose entries have a known dtype, a shape of non-negative integers and
 * integer offsets [begin, end] whose span matches the shape; the tensors, sorted by offset,
 * tile the data section exactly (no overlap, no gap, nothing after the last one). A hostile
 * or corrupt file therefore fails with a message naming the file and the tensor instead of
 * aliasing bytes (negative or overlapping offsets would read other tensors' data).
 */
export function readSafetensors(path: string): { tensors: TensorMap; metadata: Record<string, string> } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length < 8) throw new CheckpointError(`${path}: truncated safetensors file (${buf.length} bytes, no header)`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(MAX_HEADER) || 8n + headerLen > BigInt(buf.length)) {
    throw new CheckpointError(`${path}: truncated or not a safetensors file (header claims ${headerLen} bytes, file has ${buf.length})`);
  }
  const dataStart = 8 + Number(headerLen);
  const { entries, metadata } = parseHeader(path, buf.subarray(8, dataStart));
  checkLayout(path, entries, buf.length - dataStart);
  const tensors: TensorMap = new Map();
  for (const e of entries) tensors.set(e.name, { shape: e.shape, data: decode(buf, dataStart + e.begin, e.end - e.begin, e.dtype) });
  return { tensors, metadata };
}

/** The header's tensor entries (validated one by one) and its string metadata. */
function parseHeader(path: string, bytes: Uint8Array): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new CheckpointError(`${path}: safetensors header is not valid UTF-8 JSON (corrupt or not a safetensors file)`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointError(`${path}: safetensors header must be a JSON object of tensors, got ${header === null ? "null" : Array.isArray(header) ? "an array" : typeof header} (corrupt or not a safetensors file)`);
  }
  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") metadata = parseMetadata(path, entry);
    else entries.push(parseEntry(`${path}: tensor '${name}'`, name, entry));
  }
  return { entries, metadata };
}

function parseMetadata(path: string, v: unknown): Record<string, string> {
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) {
    throw new CheckpointError(`${path}: safetensors '__metadata__' must be an object of strings`);
  }
  return v as Record<string, string>;
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** One tensor's header entry: dtype known, shape and offsets non-negative integers that agree. */
function parseEntry(where: string, name: string, entry: unknown): HeaderEntry {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new CheckpointError(`${where}: header entry must be an object with dtype, shape and data_offsets, got ${JSON.stringify(entry)}`);
  }
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e.dtype !== "string") throw new CheckpointError(`${where}: 'dtype' must be a string, got ${JSON.stringify(e.dtype ?? null)}`);
  // hasOwn: a dtype such as "constructor" must not find Object.prototype's members.
  const width = Object.hasOwn(BYTES, e.dtype) ? BYTES[e.dtype]! : 0;
  if (!width) throw new CheckpointError(`${where}: dtype ${e.dtype} is not supported (use F32, F16, BF16 or F64)`);
  if (!Array.isArray(e.shape) || !e.shape.every(isCount)) {
    throw new CheckpointError(`${where}: 'shape' must be an array of non-negative integers, got ${JSON.stringify(e.shape ?? null)}`);
  }
  const shape = e.shape as number[];
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1]! < offsets[0]!) {
    throw new CheckpointError(`${where}: 'data_offsets' must be [begin, end], integers with 0 <= begin <= end, got ${JSON.stringify(offsets ?? null)}`);
  }
  const [begin, end] = offsets as [number, number];
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count * width) || end - begin !== count * width) {
    throw new CheckpointError(`${where}: shape [${shape}] of ${e.dtype} needs ${count * width} bytes, offsets span ${end - begin}`);
  }
  return { name, dtype: e.dtype, shape, begin, end };
}

/** Sorted by offset, the tensors must tile [0, dataLen) exactly, as the reference reader requires. */
function checkLayout(path: string, entries: readonly HeaderEntry[], dataLen: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev: HeaderEntry | null = null;
  for (const e of sorted) {
    const where = `${path}: tensor '${e.name}'`;
    if (e.end > dataLen) throw new CheckpointError(`${where}: data ends at byte ${e.end} but the file holds ${dataLen} data bytes (truncated file?)`);
    if (e.begin < at) throw new CheckpointError(`${where}: data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev!.name}' [${prev!.begin}, ${prev!.end}] (corrupt file)`);
    if (e.begin > at) throw new CheckpointError(`${where}: data_offsets [${e.begin}, ${e.end}] leave bytes ${at}..${e.begin} unused (corrupt file: tensors must be stored back to back)`);
    at = e.end;
    prev = e;
  }
  if (at !== dataLen) throw new CheckpointError(`${path}: ${dataLen - at} bytes after the last tensor's data (corrupt file, or a header that lists too few tensors)`);
}

function decode(buf: Buffer, offset: number, byteLength: number, dtype: string): Float32Array {
  const count = byteLength / BYTES[dtype]!;
  const out = new Float32Array(dtype === "F32" ? 0 : count);
  // Copy first: the data may be unaligned within the file buffer.
  const bytes = new Uint8Array(byteLength);
  bytes.set(buf.subarray(offset, offset + bytes.length));
  const view = new DataView(bytes.buffer);
  if (dtype === "F32") return new Float32Array(bytes.buffer);
  if (dtype === "F64") {
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  } else if (dtype === "BF16") {
    // bf16 is the top half of an f32.
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

/** IEEE 754 binary16 to number, including subnormals, infinities and NaN. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Write tensors as one F32 safetensors file, atomically. Tensor order is sorted by name, as HF does. */
export function writeSafetensors(path: string, tensors: TensorMap, metadata: Record<string, string> = { format: "pt" }): void {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new CheckpointError(`${path}: tensor '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8); // align data to 8 bytes (HF pads with spaces)
  const headerBytes = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  atomicWrite(path, (fd) => {
    writeSync(fd, len);
    writeSync(fd, headerBytes);
    for (const name of names) {
      const d = tensors.get(name)!.data;
      writeSync(fd, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  });
}

/** Write through `fill` into a temporary file, fsync, then rename over `path`. */
export function atomicWrite(path: string, fill: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    fill(fd);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}

/** Index of the first NaN or infinite value, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/**
 * A model's weights must be finite: one NaN or infinity turns every log-probability it
 * touches into NaN (or into garbage such as -8e36), silently. Tensors that carry no
 * parameters (IGNORED_TENSOR) are not checked; the loader drops them.
 */
function assertFiniteWeights(file: string, tensors: TensorMap): void {
  for (const [name, t] of tensors) {
    if (IGNORED_TENSOR.test(name)) continue;
    const i = firstNonFinite(t.data);
    if (i >= 0) {
      const n = t.data.reduce((k, v) => k + (Number.isFinite(v) ? 0 : 1), 0);
      throw new CheckpointError(`${file}: tensor '${name}' holds ${n} non-finite value${n === 1 ? "" : "s"} (first: ${t.data[i]} at flat index ${i}); the checkpoint is corrupt or diverged — use an earlier checkpoint`);
    }
  }
}

/** Every tensor of a model folder: model.safetensors, or the shards named by model.safetensors.index.json. Weights must be finite. */
export function readCheckpointTensors(dir: string): TensorMap {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(single)) {
    const { tensors } = readSafetensors(single);
    assertFiniteWeights(single, tensors);
    return tensors;
  }
  if (!existsSync(index)) throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const weightMap = readWeightMap(index);
  const out: TensorMap = new Map();
  for (const shard of new Set(Object.values(weightMap))) {
    const file = join(dir, shard);
    const { tensors } = readSafetensors(file);
    assertFiniteWeights(file, tensors);
    for (const [name, t] of tensors) out.set(name, t);
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!out.has(name)) throw new CheckpointError(`${index}: tensor '${name}' is mapped to ${shard} but that file does not hold it`);
  }
  return out;
}

/** The index's weight_map: tensor name -> shard file name, a plain file inside the folder. */
function readWeightMap(index: string): Record<string, string> {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(readFileSync(index, "utf8")) as { weight_map?: unknown } | null)?.weight_map;
  } catch (e) {
    throw new CheckpointError(`${index}: not a valid safetensors index (${(e as Error).message})`);
  }
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError(`${index}: not a valid safetensors index ('weight_map' must be an object of tensor name -> shard file)`);
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    // A shard is a file beside the index; a path could read any file on the machine.
    if (typeof shard !== "string" || shard === "" || shard !== basename(shard) || shard === "." || shard === "..") {
      throw new CheckpointError(`${index}: tensor '${name}' maps to ${JSON.stringify(shard)}; a shard must be a file name in the same folder`);
    }
  }
  return weightMap as Record<string, string>;
}
