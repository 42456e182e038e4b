// Hugging Face safetensors files: read (F32, F16, BF16, F64 upcast to f32) and write (F32),
// single-file and sharded (model.safetensors.index.json). Writes are atomic: write a
// temporary file beside the target, then rename, so a crash never leaves a half file.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }
// then the raw little-endian tensor bytes; offsets are relative to the end of the header.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

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

/** Read every tensor of one .safetensors file, upcast to f32. */
export function readSafetensors(path: string): { tensors: TensorMap; metadata: Record<string, string> } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.length < 8) throw new CheckpointError(`${path}: truncated safetensors file (${buf.length} bytes, no header)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER || 8 + headerLen > buf.length) {
    throw new CheckpointError(`${path}: truncated or not a safetensors file (header claims ${headerLen} bytes, file has ${buf.length})`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new CheckpointError(`${path}: safetensors header is not valid JSON (corrupt or not a safetensors file)`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const tensors: TensorMap = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const where = `${path}: tensor '${name}'`;
    if (!e || typeof e.dtype !== "string" || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new CheckpointError(`${where}: malformed header entry`);
    }
    const width = BYTES[e.dtype];
    if (!width) throw new CheckpointError(`${where}: dtype ${e.dtype} is not supported (use F32, F16, BF16 or F64)`);
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * width) {
      throw new CheckpointError(`${where}: shape [${e.shape}] of ${e.dtype} needs ${count * width} bytes, offsets span ${end - begin}`);
    }
    if (end > dataLen) {
      throw new CheckpointError(`${where}: data ends at byte ${end} but the file holds ${dataLen} data bytes (truncated file?)`);
    }
    tensors.set(name, { shape: e.shape, data: decode(buf, dataStart + begin, count, e.dtype) });
  }
  return { tensors, metadata };
}

function decode(buf: Buffer, offset: number, count: number, dtype: string): Float32Array {
  const out = new Float32Array(count);
  // Copy first: the data may be unaligned within the file buffer.
  const bytes = new Uint8Array(count * BYTES[dtype]!);
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

/** Every tensor of a model folder: model.safetensors, or the shards named by model.safetensors.index.json. */
export function readCheckpointTensors(dir: string): TensorMap {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  if (existsSync(single)) return readSafetensors(single).tensors;
  if (!existsSync(index)) throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  let weightMap: Record<string, string>;
  try {
    weightMap = (JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
    if (!weightMap || typeof weightMap !== "object") throw new Error("no weight_map");
  } catch (e) {
    throw new CheckpointError(`${index}: not a valid safetensors index (${(e as Error).message})`);
  }
  const out: TensorMap = new Map();
  for (const shard of new Set(Object.values(weightMap))) {
    const { tensors } = readSafetensors(join(dir, shard));
    for (const [name, t] of tensors) out.set(name, t);
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!out.has(name)) throw new CheckpointError(`${index}: tensor '${name}' is mapped to ${shard} but that file does not hold it`);
  }
  return out;
}
