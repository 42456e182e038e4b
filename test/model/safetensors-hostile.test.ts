// Hostile and corrupt model files: every one is a CheckpointError whose message names the
// file and the tensor (or config key) and says what is wrong — never a raw JavaScript error,
// and never a load that silently reads the wrong bytes (negative or overlapping offsets used
// to alias other tensors' data and give log-probabilities of -8e36).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpoint, saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { type ModelConfig, parseConfig, readConfig } from "../../runtime/engine/model/config.js";
import { parameterSpecs } from "../../runtime/engine/model/layout.js";
import { CheckpointError, type TensorMap, readSafetensors } from "../../runtime/engine/model/safetensors.js";
import { TextTokenizer, charTokenizerFiles } from "../../runtime/engine/model/tokenizer.js";

const tmp = () => mkdtempSync(join(tmpdir(), "acpo-hostile-"));

/** A safetensors file from a header value (any JSON) and data bytes, laid out by hand. */
function rawFile(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Buffer {
  const h = Buffer.from(headerText, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.from(data)]);
}

const f32 = (...xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
// A valid file: a = [1, 2] at bytes 0..8, b = [3, 4, 5] at bytes 8..20.
const DATA = f32(1, 2, 3, 4, 5);
const good = () => ({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [3], data_offsets: [8, 20] } });
const withB = (b: unknown) => ({ a: good().a, b });

/** What readSafetensors throws for this file, as a string ("ok" when it loads). */
function failure(buf: Buffer): string {
  const path = join(tmp(), "model.safetensors");
  writeFileSync(path, buf);
  try {
    readSafetensors(path);
    return "ok";
  } catch (e) {
    // Only our own error type counts: a TypeError or RangeError here is the bug.
    expect(e, String(e)).toBeInstanceOf(CheckpointError);
    return (e as Error).message.replace(path, "F");
  }
}

describe("hostile safetensors files", () => {
  it("reads the valid file the cases start from", () => {
    const path = join(tmp(), "ok.safetensors");
    writeFileSync(path, rawFile(good(), DATA));
    const t = readSafetensors(path).tensors;
    expect([...t.get("a")!.data]).toEqual([1, 2]);
    expect([...t.get("b")!.data]).toEqual([3, 4, 5]);
  });

  const u64 = (n: bigint, rest: Uint8Array = new Uint8Array()) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return Buffer.concat([b, rest]);
  };

  const cases: [string, Buffer, string][] = [
    ["a file of 5 bytes", Buffer.from("abcde"), "F: truncated safetensors file (5 bytes, no header)"],
    ["a header length beyond the file", u64(1000n, Buffer.from("{}")), "F: truncated or not a safetensors file (header claims 1000 bytes, file has 10)"],
    ["a header length of 2^63", u64(2n ** 63n, Buffer.from("{}")), "F: truncated or not a safetensors file (header claims 9223372036854775808 bytes, file has 10)"],
    ["a header that is not JSON", rawFile(null, DATA, "{oops"), "F: safetensors header is not valid UTF-8 JSON (corrupt or not a safetensors file)"],
    ["a header that is not UTF-8", Buffer.concat([u64(4n), Buffer.from([0x22, 0xff, 0xfe, 0x22])]), "F: safetensors header is not valid UTF-8 JSON (corrupt or not a safetensors file)"],
    ["a null header", rawFile(null, DATA), "F: safetensors header must be a JSON object of tensors, got null (corrupt or not a safetensors file)"],
    ["an array header", rawFile([1, 2], DATA), "F: safetensors header must be a JSON object of tensors, got an array (corrupt or not a safetensors file)"],
    ["a number header", rawFile(7, DATA), "F: safetensors header must be a JSON object of tensors, got number (corrupt or not a safetensors file)"],
    ["a null entry", rawFile(withB(null), DATA), "F: tensor 'b': header entry must be an object with dtype, shape and data_offsets, got null"],
    ["a missing dtype", rawFile(withB({ shape: [3], data_offsets: [8, 20] }), DATA), "F: tensor 'b': 'dtype' must be a string, got null"],
    ["an unsupported dtype", rawFile(withB({ dtype: "I64", shape: [3], data_offsets: [8, 20] }), DATA), "F: tensor 'b': dtype I64 is not supported (use F32, F16, BF16 or F64)"],
    ["a dtype named like an Object method", rawFile(withB({ dtype: "constructor", shape: [3], data_offsets: [8, 20] }), DATA), "F: tensor 'b': dtype constructor is not supported (use F32, F16, BF16 or F64)"],
    ["a string shape", rawFile(withB({ dtype: "F32", shape: "3", data_offsets: [8, 20] }), DATA), "F: tensor 'b': 'shape' must be an array of non-negative integers, got \"3\""],
    ["a negative dimension", rawFile(withB({ dtype: "F32", shape: [-3], data_offsets: [8, 20] }), DATA), "F: tensor 'b': 'shape' must be an array of non-negative integers, got [-3]"],
    ["a fractional dimension", rawFile(withB({ dtype: "F32", shape: [1.5, 2], data_offsets: [8, 20] }), DATA), "F: tensor 'b': 'shape' must be an array of non-negative integers, got [1.5,2]"],
    ["string offsets", rawFile(withB({ dtype: "F32", shape: [3], data_offsets: ["8", "20"] }), DATA), "F: tensor 'b': 'data_offsets' must be [begin, end], integers with 0 <= begin <= end, got [\"8\",\"20\"]"],
    ["negative offsets", rawFile(withB({ dtype: "F32", shape: [3], data_offsets: [-12, 0] }), DATA), "F: tensor 'b': 'data_offsets' must be [begin, end], integers with 0 <= begin <= end, got [-12,0]"],
    ["reversed offsets", rawFile(withB({ dtype: "F32", shape: [3], data_offsets: [20, 8] }), DATA), "F: tensor 'b': 'data_offsets' must be [begin, end], integers with 0 <= begin <= end, got [20,8]"],
    ["three offsets", rawFile(withB({ dtype: "F32", shape: [3], data_offsets: [8, 20, 30] }), DATA), "F: tensor 'b': 'data_offsets' must be [begin, end], integers with 0 <= begin <= end, got [8,20,30]"],
    ["missing offsets", rawFile(withB({ dtype: "F32", shape: [3] }), DATA), "F: tensor 'b': 'data_offsets' must be [begin, end], integers with 0 <= begin <= end, got null"],
    ["a shape that disagrees with the byte span", rawFile(withB({ dtype: "F32", shape: [4], data_offsets: [8, 20] }), DATA), "F: tensor 'b': shape [4] of F32 needs 16 bytes, offsets span 12"],
    ["a dtype that disagrees with the byte span", rawFile(withB({ dtype: "F16", shape: [3], data_offsets: [8, 20] }), DATA), "F: tensor 'b': shape [3] of F16 needs 6 bytes, offsets span 12"],
    ["a shape of 10^20 elements", rawFile(withB({ dtype: "F32", shape: [1e10, 1e10], data_offsets: [8, 20] }), DATA), "F: tensor 'b': shape [10000000000,10000000000] of F32 needs 400000000000000000000 bytes, offsets span 12"],
    ["offsets past the end", rawFile(withB({ dtype: "F32", shape: [3], data_offsets: [12, 24] }), DATA), "F: tensor 'b': data ends at byte 24 but the file holds 20 data bytes (truncated file?)"],
    ["overlapping offsets", rawFile(withB({ dtype: "F32", shape: [2], data_offsets: [4, 12] }), DATA), "F: tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8] (corrupt file)"],
    ["two tensors on the same bytes", rawFile(withB({ dtype: "F32", shape: [2], data_offsets: [0, 8] }), DATA), "F: tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8] (corrupt file)"],
    ["a gap between tensors", rawFile(withB({ dtype: "F32", shape: [2], data_offsets: [12, 20] }), DATA), "F: tensor 'b': data_offsets [12, 20] leave bytes 8..12 unused (corrupt file: tensors must be stored back to back)"],
    ["bytes after the last tensor", rawFile({ a: good().a }, DATA), "F: 12 bytes after the last tensor's data (corrupt file, or a header that lists too few tensors)"],
    ["metadata that is not strings", rawFile({ ...good(), __metadata__: { format: 1 } }, DATA), "F: safetensors '__metadata__' must be an object of strings"],
  ];

  it.each(cases)("%s", (_what, buf, message) => {
    expect(failure(buf)).toBe(message);
  });
});

function tinyConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"], vocab_size: 37, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000,
    max_position_embeddings: 128, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, ...extra,
  };
}

describe("hostile config.json values", () => {
  /** What readConfig throws for this config.json text. */
  function configFailure(text: string): string {
    const path = join(tmp(), "config.json");
    writeFileSync(path, text);
    try {
      readConfig(path);
      return "ok";
    } catch (e) {
      expect(e, String(e)).toBeInstanceOf(CheckpointError);
      return (e as Error).message.replace(path, "F");
    }
  }
  const json = (extra: Record<string, unknown>) => JSON.stringify(tinyConfig(extra));

  const cases: [string, string, string][] = [
    ["max_position_embeddings 10^12", json({ max_position_embeddings: 1e12 }), "F: 'max_position_embeddings' must be an integer from 1 to 4194304, got 1000000000000"],
    ["max_position_embeddings 0", json({ max_position_embeddings: 0 }), "F: 'max_position_embeddings' must be an integer from 1 to 4194304, got 0"],
    ["max_position_embeddings -1", json({ max_position_embeddings: -1 }), "F: 'max_position_embeddings' must be an integer from 1 to 4194304, got -1"],
    ["max_position_embeddings 2.5", json({ max_position_embeddings: 2.5 }), "F: 'max_position_embeddings' must be an integer from 1 to 4194304, got 2.5"],
    ["max_position_embeddings \"128\"", json({ max_position_embeddings: "128" }), "F: 'max_position_embeddings' must be an integer from 1 to 4194304, got \"128\""],
    // JSON.parse reads 1e400 as Infinity; JSON.stringify writes it back as null.
    ["max_position_embeddings 1e400", json({}).replace('"max_position_embeddings":128', '"max_position_embeddings":1e400'), "F: 'max_position_embeddings' must be an integer from 1 to 4194304, got null"],
    ["RoPE tables too large for the head dimension", json({ max_position_embeddings: 4194304, hidden_size: 1024, num_attention_heads: 4, num_key_value_heads: 2 }), "F: max_position_embeddings 4194304 with head dimension 256 needs RoPE tables of 536870912 values each (limit 134217728); lower max_position_embeddings to at most 1048576, the longest sequence acpo will then accept"],
    ["vocab_size 2^30", json({ vocab_size: 2 ** 30 }), "F: 'vocab_size' must be an integer from 1 to 16777216, got 1073741824"],
    ["num_hidden_layers 10^9", json({ num_hidden_layers: 1e9 }), "F: 'num_hidden_layers' must be an integer from 1 to 1024, got 1000000000"],
    ["hidden_size 0", json({ hidden_size: 0 }), "F: 'hidden_size' must be an integer from 1 to 65536, got 0"],
    ["intermediate_size null", json({ intermediate_size: null }), "F: 'intermediate_size' must be an integer from 1 to 262144, got null"],
    ["head_dim 3", json({ head_dim: 3 }), "F: head dimension 3 must be even for rotary embeddings"],
    ["rms_norm_eps 1e400", json({}).replace('"rms_norm_eps":0.000001', '"rms_norm_eps":1e400'), "F: 'rms_norm_eps' must be a positive finite number, got null"],
    ["rope_theta -1", json({ rope_theta: -1 }), "F: 'rope_theta' must be a positive finite number, got -1"],
    ["eos_token_id beyond the vocabulary", json({ eos_token_id: 37 }), "F: 'eos_token_id' must be a token id from 0 to 36 (vocab_size - 1), got 37"],
    ["eos_token_id a string", json({ eos_token_id: ["2"] }), "F: 'eos_token_id' must be a token id from 0 to 36 (vocab_size - 1), got \"2\""],
    ["bos_token_id negative", json({ bos_token_id: -1 }), "F: 'bos_token_id' must be a token id from 0 to 36 (vocab_size - 1), got -1"],
    ["tie_word_embeddings \"true\"", json({ tie_word_embeddings: "true" }), "F: 'tie_word_embeddings' must be true or false, got \"true\""],
    ["a config that is null", "null", "F: expected a JSON object"],
  ];

  it.each(cases)("%s", (_what, text, message) => {
    expect(configFailure(text)).toBe(message);
  });

  it("accepts a long-context Qwen2 config (1M positions, head_dim 64)", () => {
    const c = parseConfig({ ...tinyConfig(), architectures: ["Qwen2ForCausalLM"], max_position_embeddings: 1010000, hidden_size: 256, num_attention_heads: 4, eos_token_id: [1, 2], bos_token_id: null });
    expect([c.maxPositions, c.headDim, c.bosTokenId, c.eosTokenId]).toEqual([1010000, 64, null, [1, 2]]);
  });
});

describe("non-finite weights", () => {
  const config: ModelConfig = parseConfig(tinyConfig());
  function weights(): TensorMap {
    const m: TensorMap = new Map();
    for (const s of parameterSpecs(config)) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      m.set(s.name, { shape: s.shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.1) });
    }
    return m;
  }
  const extras = { tokenizer: null, tokenizerConfig: {}, generationConfig: {} };

  it("names the file, the tensor and the first bad value of a NaN or infinite weight", () => {
    const dir = tmp();
    const w = weights();
    w.get("model.layers.1.mlp.up_proj.weight")!.data[5] = NaN;
    w.get("model.layers.1.mlp.up_proj.weight")!.data[9] = NaN;
    saveCheckpoint(dir, { config, weights: w, ...extras });
    expect(() => loadCheckpoint(dir)).toThrow(new CheckpointError(`${join(dir, "model.safetensors")}: tensor 'model.layers.1.mlp.up_proj.weight' holds 2 non-finite values (first: NaN at flat index 5); the checkpoint is corrupt or diverged — use an earlier checkpoint`));
  });

  it("checks every shard of a sharded checkpoint", () => {
    const dir = tmp();
    const w = weights();
    w.get("model.norm.weight")!.data[0] = -Infinity;
    saveCheckpoint(dir, { config, weights: w, ...extras }, { maxShardBytes: 4000 });
    expect(() => loadCheckpoint(dir)).toThrow(/model-\d{5}-of-\d{5}\.safetensors: tensor 'model\.norm\.weight' holds 1 non-finite value \(first: -Infinity at flat index 0\)/);
  });

  it("refuses an index whose shard names a path outside the folder", () => {
    const dir = tmp();
    saveCheckpoint(dir, { config, weights: weights(), ...extras }, { maxShardBytes: 4000 });
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.norm.weight": "../../etc/passwd" } }));
    expect(() => loadCheckpoint(dir)).toThrow(new CheckpointError(`${join(dir, "model.safetensors.index.json")}: tensor 'model.norm.weight' maps to "../../etc/passwd"; a shard must be a file name in the same folder`));
    writeFileSync(join(dir, "model.safetensors.index.json"), "null");
    expect(() => loadCheckpoint(dir)).toThrow(/model\.safetensors\.index\.json: not a valid safetensors index \('weight_map' must be an object/);
  });
});

describe("hostile tokenizer.json", () => {
  const base = () => charTokenizerFiles(["First"]).tokenizer as Record<string, unknown> & { model: Record<string, unknown> };
  function tokFailure(json: Record<string, unknown>): string {
    try {
      new TextTokenizer(json, {}, "T");
      return "ok";
    } catch (e) {
      expect(e, String(e)).toBeInstanceOf(CheckpointError);
      return (e as Error).message;
    }
  }
  const withVocab = (vocab: unknown) => {
    const j = base();
    return { ...j, model: { ...j.model, vocab } };
  };

  it.each([
    ["a vocabulary id of 10^12", withVocab({ a: 0, b: 1e12 }), 'T: model.vocab["b"] must be a token id from 0 to 16777215, got 1000000000000'],
    ["a negative vocabulary id", withVocab({ a: 0, b: -1 }), 'T: model.vocab["b"] must be a token id from 0 to 16777215, got -1'],
    ["added_tokens that is not an array", { ...base(), added_tokens: { id: 1 } }, "T: added_tokens must be an array"],
    ["an added token without content", { ...base(), added_tokens: [{ id: 1 }] }, "T: added_tokens[0].content must be a string"],
    ["an added token with a string id", { ...base(), added_tokens: [{ id: "7", content: "x" }] }, 'T: added_tokens[0].id must be a token id from 0 to 16777215, got "7"'],
  ] as [string, Record<string, unknown>, string][])("%s", (_what, json, message) => {
    expect(tokFailure(json)).toBe(message);
  });
});
