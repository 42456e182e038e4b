// Hugging Face model folders: config.json, model.safetensors (or shards plus
// model.safetensors.index.json), tokenizer.json, tokenizer_config.json,
// generation_config.json. Loading validates every tensor against the config;
// saving writes each file atomically.
import { existsSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type ModelConfig, configToJson, readConfig } from "./config.js";
import { IGNORED_TENSOR, parameterSpecs } from "./layout.js";
import { CheckpointError, type TensorMap, atomicWrite, readCheckpointTensors, writeSafetensors } from "./safetensors.js";
import { ensureDir } from "../fs-errors.js";

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  /** Parameters by HF name, f32, exactly the set parameterSpecs(config) names. */
  weights: TensorMap;
  /** tokenizer.json / tokenizer_config.json / generation_config.json contents, when present. */
  tokenizer: Record<string, unknown> | null;
  tokenizerConfig: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
}

export function loadCheckpoint(dir: string): Checkpoint {
  if (!existsSync(join(dir, "config.json"))) throw new CheckpointError(`${dir}: not a model folder (no config.json)`);
  const config = readConfig(join(dir, "config.json"));
  const all = readCheckpointTensors(dir);
  const where = existsSync(join(dir, "model.safetensors")) ? join(dir, "model.safetensors") : join(dir, "model.safetensors.index.json");
  const weights: TensorMap = new Map();
  for (const spec of parameterSpecs(config)) {
    const t = all.get(spec.name);
    if (!t) throw new CheckpointError(`${where}: missing tensor '${spec.name}' (expected shape [${spec.shape}] from config.json)`);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      throw new CheckpointError(`${where}: tensor '${spec.name}' has shape [${t.shape}] but config.json implies [${spec.shape}]`);
    }
    weights.set(spec.name, t);
  }
  for (const name of all.keys()) {
    if (weights.has(name) || IGNORED_TENSOR.test(name)) continue;
    if (name === "lm_head.weight" && config.tieWordEmbeddings) continue; // some exporters store the tied copy
    throw new CheckpointError(`${where}: unexpected tensor '${name}' for ${config.architecture} with this config.json (wrong architecture or layer count?)`);
  }
  return {
    dir,
    config,
    weights,
    tokenizer: readJsonIfPresent(join(dir, "tokenizer.json")),
    tokenizerConfig: readJsonIfPresent(join(dir, "tokenizer_config.json")) ?? {},
    generationConfig: readJsonIfPresent(join(dir, "generation_config.json")) ?? {},
  };
}

export interface SaveOptions {
  /** Split weights into shards of at most this many bytes (HF's sharded layout). Default: one file. */
  maxShardBytes?: number;
}

/** Write a model folder. Each file is written atomically; existing files are replaced. */
export function saveCheckpoint(dir: string, ck: Omit<Checkpoint, "dir">, opts: SaveOptions = {}): void {
  ensureDir(dir);
  for (const spec of parameterSpecs(ck.config)) {
    if (!ck.weights.has(spec.name)) throw new CheckpointError(`saving ${dir}: missing tensor '${spec.name}'`);
  }
  writeJson(join(dir, "config.json"), configToJson(ck.config));
  writeWeights(dir, ck.weights, opts.maxShardBytes);
  if (ck.tokenizer) writeJson(join(dir, "tokenizer.json"), ck.tokenizer);
  writeJson(join(dir, "tokenizer_config.json"), ck.tokenizerConfig);
  writeJson(join(dir, "generation_config.json"), ck.generationConfig);
}

function writeWeights(dir: string, weights: TensorMap, maxShardBytes?: number): void {
  const names = [...weights.keys()].sort();
  const total = names.reduce((n, k) => n + weights.get(k)!.data.byteLength, 0);
  if (!maxShardBytes || total <= maxShardBytes) {
    writeSafetensors(join(dir, "model.safetensors"), weights);
    return;
  }
  const shards: string[][] = [[]];
  let size = 0;
  for (const name of names) {
    const bytes = weights.get(name)!.data.byteLength;
    if (size > 0 && size + bytes > maxShardBytes) { shards.push([]); size = 0; }
    shards[shards.length - 1]!.push(name);
    size += bytes;
  }
  const weightMap: Record<string, string> = {};
  shards.forEach((group, i) => {
    const file = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    writeSafetensors(join(dir, file), new Map(group.map((n) => [n, weights.get(n)!])));
    for (const n of group) weightMap[n] = file;
  });
  // The index goes last: a reader never sees an index naming shards that are not yet written.
  writeJson(join(dir, "model.safetensors.index.json"), { metadata: { total_size: total }, weight_map: weightMap });
}

export function writeJson(path: string, value: unknown): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  atomicWrite(path, (fd) => writeSync(fd, text));
}

function readJsonIfPresent(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}
