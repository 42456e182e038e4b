// HF checkpoint folders: save/load round trips bit-exactly, sharded layout, half-precision
// upcast, and clear errors for broken folders.
import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpoint, saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { parameterSpecs } from "../../runtime/engine/model/layout.js";
import { type TensorMap, halfToFloat, readSafetensors, writeSafetensors } from "../../runtime/engine/model/safetensors.js";
import { randArray } from "../helpers/numeric.js";

const tmp = () => mkdtempSync(join(tmpdir(), "acpo-ckpt-"));

function tinyConfig(arch: "LlamaForCausalLM" | "Qwen2ForCausalLM", extra: Record<string, unknown> = {}): ModelConfig {
  return parseConfig({
    architectures: [arch], vocab_size: 37, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000,
    max_position_embeddings: 128, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, ...extra,
  });
}

function randomWeights(c: ModelConfig, seed = 1): TensorMap {
  const m: TensorMap = new Map();
  parameterSpecs(c).forEach((s, i) => m.set(s.name, { shape: s.shape, data: randArray(s.shape.reduce((a, b) => a * b, 1), seed + i) }));
  return m;
}

const extras = { tokenizer: null, tokenizerConfig: {}, generationConfig: { eos_token_id: 2 } };

/** A safetensors file with one tensor of the given dtype, laid out by hand as the format defines. */
function rawSafetensors(name: string, dtype: string, shape: number[], bytes: Uint8Array): Buffer {
  const header = Buffer.from(JSON.stringify({ [name]: { dtype, shape, data_offsets: [0, bytes.length] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, Buffer.from(bytes)]);
}

describe("HF checkpoint folders", () => {
  it.each(["LlamaForCausalLM", "Qwen2ForCausalLM"] as const)("%s: save then load is bit-exact", (arch) => {
    const dir = tmp();
    const config = tinyConfig(arch);
    const weights = randomWeights(config);
    saveCheckpoint(dir, { config, weights, ...extras });
    const ck = loadCheckpoint(dir);
    expect(ck.config.architecture).toBe(arch);
    expect(ck.config.qkvBias).toBe(arch === "Qwen2ForCausalLM");
    expect([...ck.weights.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, t] of weights) expect(ck.weights.get(name)!.data).toEqual(t.data);
    expect(JSON.parse(readFileSync(join(dir, "generation_config.json"), "utf8")).eos_token_id).toBe(2);
  });

  it("writes and reads the sharded layout with an index", () => {
    const dir = tmp();
    const config = tinyConfig("LlamaForCausalLM");
    const weights = randomWeights(config, 7);
    saveCheckpoint(dir, { config, weights, ...extras }, { maxShardBytes: 8000 });
    const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8"));
    expect(new Set(Object.values(index.weight_map)).size).toBeGreaterThan(1);
    const ck = loadCheckpoint(dir);
    for (const [name, t] of weights) expect(ck.weights.get(name)!.data).toEqual(t.data);
  });

  it("upcasts BF16 and F16 tensors to f32 exactly", () => {
    const dir = tmp();
    // bf16 0x3FC0 = 1.5, 0xC2F7 = -123.5; f16 0x3C00 = 1, 0x0001 = 2^-24 (subnormal), 0x7C00 = inf
    const bf = new Uint8Array(new Uint16Array([0x3fc0, 0xc2f7]).buffer);
    writeFileSync(join(dir, "bf.safetensors"), rawSafetensors("w", "BF16", [2], bf));
    expect([...readSafetensors(join(dir, "bf.safetensors")).tensors.get("w")!.data]).toEqual([1.5, -123.5]);
    const h = new Uint8Array(new Uint16Array([0x3c00, 0x0001, 0x7c00, 0xc000]).buffer);
    writeFileSync(join(dir, "h.safetensors"), rawSafetensors("w", "F16", [2, 2], h));
    const got = readSafetensors(join(dir, "h.safetensors")).tensors.get("w")!;
    expect(got.shape).toEqual([2, 2]);
    expect([...got.data]).toEqual([1, 2 ** -24, Infinity, -2]);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
  });

  it("names the file and tensor for a truncated file, a missing tensor and a wrong shape", () => {
    const config = tinyConfig("LlamaForCausalLM");
    const truncated = tmp();
    saveCheckpoint(truncated, { config, weights: randomWeights(config), ...extras });
    const file = join(truncated, "model.safetensors");
    truncateSync(file, readFileSync(file).length - 100);
    expect(() => loadCheckpoint(truncated)).toThrow(/model\.safetensors: tensor '.*': data ends at byte \d+ but the file holds \d+ data bytes \(truncated file\?\)/);
    truncateSync(file, 5);
    expect(() => loadCheckpoint(truncated)).toThrow(/model\.safetensors: truncated safetensors file/);

    const missing = tmp();
    const w = randomWeights(config);
    saveCheckpoint(missing, { config, weights: w, ...extras });
    w.delete("model.layers.1.mlp.up_proj.weight");
    writeSafetensors(join(missing, "model.safetensors"), w);
    expect(() => loadCheckpoint(missing)).toThrow(/model\.safetensors: missing tensor 'model\.layers\.1\.mlp\.up_proj\.weight' \(expected shape \[40,24\]/);

    const wrong = tmp();
    saveCheckpoint(wrong, { config, weights: randomWeights(config), ...extras });
    writeFileSync(join(wrong, "config.json"), readFileSync(join(wrong, "config.json"), "utf8").replace('"intermediate_size": 40', '"intermediate_size": 48'));
    expect(() => loadCheckpoint(wrong)).toThrow(/tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[40,24\] but config\.json implies \[48,24\]/);
  });

  it("rejects unsupported architectures and inconsistent configs by name", () => {
    expect(() => tinyConfig("GPT2LMHeadModel" as never)).toThrow(/architecture "GPT2LMHeadModel" is not supported/);
    expect(() => tinyConfig("LlamaForCausalLM", { num_key_value_heads: 3 })).toThrow(/multiple of num_key_value_heads/);
    expect(() => tinyConfig("LlamaForCausalLM", { hidden_size: -4 })).toThrow("config.json: 'hidden_size' must be an integer from 1 to 65536, got -4");
    const dir = tmp();
    expect(() => loadCheckpoint(dir)).toThrow(/not a model folder/);
    writeFileSync(join(dir, "config.json"), "{ not json");
    expect(() => loadCheckpoint(dir)).toThrow(/config\.json: not valid JSON/);
  });
});
