// `acpo doctor --model DIR [--pipeline FILE]` prints the memory plan against the adapter's
// limits; `acpo train` refuses a run that cannot fit before it starts, with that table.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../runtime/engine/model/config.js";
import { bucketBytes } from "../../runtime/engine/gpu.js";
import { memoryPlan } from "../../runtime/engine/model/memory.js";

const acpo = (...args: string[]) => spawnSync(process.execPath, ["cli/acpo.js", ...args], { encoding: "utf8", timeout: 300_000 });

// Qwen2.5-0.5B's shapes (config.json only: the plan needs no weights).
const QWEN05 = {
  architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
  num_attention_heads: 14, num_key_value_heads: 2, max_position_embeddings: 32768, rope_theta: 1000000.0, rms_norm_eps: 1e-6,
  tie_word_embeddings: true, use_sliding_window: false, sliding_window: 32768, rope_scaling: null,
};

function modelDir(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "acpo-plan-"));
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return dir;
}

describe("memory plan", () => {
  it("counts each buffer family from the model's shapes (bucketed as the pool allocates)", () => {
    const c = parseConfig({ ...QWEN05, num_hidden_layers: 2 });
    const lim = { maxStorageBufferBindingSize: 134217728, maxBufferSize: 2 ** 32 - 1 };
    const p = memoryPlan(c, lim, { trainB: 4, trainT: 512, sampleRows: 16, sampleT: 512, reference: true }, 64 * 2 ** 20);
    const row = (item: string) => p.rows.find((r) => r.item === item)!;
    // embed_tokens 151936 x 896 x 4 = 544.5 MiB, in a 576 MiB bucket (1/8-power-of-two steps).
    expect(row("weights").largest).toBe(576 * 2 ** 20);
    expect(row("optimizer state").bytes).toBe(2 * row("weights").bytes);
    expect(row("reference policy").bytes).toBe(row("weights").bytes);
    // KV cache: 2 layers x (k, v) x 16 rows x 2 kv heads x 512 x 64 x 4 bytes.
    expect(row("KV cache (sampling)").bytes).toBe(4 * 16 * 2 * 512 * 64 * 4);
    // The 544.5 MiB embedding (the tied head) is bound in row ranges of at most 128 MiB: not a problem.
    expect(p.splits).toEqual(["'model.embed_tokens.weight' (151936 x 896, 519.3 MiB) is bound in 5 row ranges of up to 37440 rows (128.0 MiB each)"]);
    expect(row("weights").bound).toBe(37440 * 896 * 4);
    expect(p.problems).toEqual([]);
    expect(p.total).toBe(p.rows.reduce((a, r) => a + r.bytes, 0));
    // The decoder's concatenated copies per layer: q|k|v (14 + 2 x 2 heads of 64) x 896 and gate|up 2 x 4864 x 896.
    expect(row("decode weight copies").bytes).toBe(2 * (bucketBytes(4 * 1152 * 896) + bucketBytes(4 * 2 * 4864 * 896)));
    // 24 layers of copies (935 MB) exceed the decoder's budget: it keeps separate projections, and the plan no row.
    const full = memoryPlan(parseConfig(QWEN05), lim, { trainB: 1, trainT: 64, sampleRows: 1, sampleT: 64, reference: false }, 64 * 2 ** 20);
    expect(full.rows.map((r) => r.item)).not.toContain("decode weight copies");
  });

  it("acpo doctor --model prints the table, how the vocabulary tensors split and which attention the shape gets", () => {
    const r = acpo("doctor", "--model", modelDir(QWEN05));
    expect(r.stdout).toContain("memory plan on");
    expect(r.stdout).toMatch(/ {2}weights +2049\.3 MiB +576\.0 MiB {2}290 tensors, fp32/);
    expect(r.stdout).toMatch(/ {2}logits chunks .*110 rows x vocab 151936 \(logits \+ dlogits\) \+ one vocabulary range's logits/);
    expect(r.stdout).toContain("split: 'model.embed_tokens.weight' (151936 x 896, 519.3 MiB) is bound in 5 row ranges of up to 37440 rows (128.0 MiB each)");
    expect(r.stdout).not.toContain("does not fit: weights");
    // One sequence of 2,048 tokens: the attention probabilities (14 x 2048 x 2048 floats) would be one 224 MiB
    // buffer, so attention keeps the log-sum-exp and recomputes; nothing is refused for the binding limit
    // (the exit status also counts this host's memory against the 12 GiB plan).
    expect(r.stdout).toContain("attention: recompute: att (1 x 14 x 2048 x 2048, 224.0 MiB) would exceed the binding limit (128.0 MiB), so each layer keeps the log-sum-exp (1 x 14 x 2048) and backward recomputes the scores");
    expect(r.stdout).toMatch(/ {2}activations \(train\) .* B 1 x T 2048, forward \+ backward scratch, attention recompute/);
    expect(r.stdout).not.toContain("does not fit: activations");
  });

  it("saved-P attention where its probabilities bind, recompute beyond: the rows count what each keeps", () => {
    const c = parseConfig({ ...QWEN05, num_hidden_layers: 2 });
    const lim = { maxStorageBufferBindingSize: 134217728, maxBufferSize: 2 ** 32 - 1 };
    const plan = (trainB: number, trainT: number) => memoryPlan(c, lim, { trainB, trainT, sampleRows: 1, sampleT: 64, reference: false }, 64 * 2 ** 20);
    const acts = (B: number, T: number) => plan(B, T).rows.find((r) => r.item === "activations (train)")!;
    // 4 x 512: att is 4 x 14 x 512 x 512 floats = 56 MiB per layer (2 layers + datt).
    expect(plan(4, 512).attention).toBe("saved probabilities: each layer keeps att (4 x 14 x 512 x 512, 56.0 MiB), within the binding limit (128.0 MiB)");
    expect(acts(4, 512).largest).toBe(56 * 2 ** 20);
    // 1 x 1,548 is the longest single sequence that stays saved (94.8 MiB), 1 x 1,549 recomputes.
    expect(plan(1, 1548).attention).toMatch(/^saved probabilities/);
    expect(plan(1, 1549).attention).toMatch(/^recompute/);
    // 1 x 2,048: no T x T buffer, so the largest is a (N, F) activation; the plan fits.
    const long = plan(1, 2048);
    expect(acts(1, 2048).largest).toBe(bucketBytes(2048 * 4864 * 4));
    expect(long.problems).toEqual([]);
  });

  it("a Qwen2.5-0.5B-shaped plan of 4 x 512 tokens fits: the embedding split, nothing refused (exit 0)", () => {
    const r = acpo("doctor", "--model", modelDir({ ...QWEN05, max_position_embeddings: 512 }));
    expect(r.stdout).toContain("split: 'model.embed_tokens.weight' (151936 x 896, 519.3 MiB) is bound in 5 row ranges of up to 37440 rows (128.0 MiB each)");
    expect(r.stdout).toContain("fits: every binding is within the device's binding limit (the split tensors bound range by range)");
    expect(r.status).toBe(0);
  });

  it("still refuses what cannot be split: one vocabulary row larger than a binding, or a large weight that is not a vocabulary tensor", () => {
    const lim = { maxStorageBufferBindingSize: 2048, maxBufferSize: 2 ** 32 - 1 };
    const c = parseConfig({ ...QWEN05, vocab_size: 1000, hidden_size: 1024, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 8, num_key_value_heads: 2 });
    const p = memoryPlan(c, lim, { trainB: 1, trainT: 1, sampleRows: 1, sampleT: 1, reference: false }, 64 * 2 ** 20);
    expect(p.problems).toContain("weights: 'model.embed_tokens.weight' (1000 x 1024): one row of 4096 bytes exceeds one storage binding (2048 bytes), so it cannot be split into row ranges");
    expect(p.problems).toContain("weights: 'model.layers.0.self_attn.q_proj.weight' (1024 x 1024) is one buffer of 4194304 bytes, more than maxStorageBufferBindingSize (2048); only the embedding and the LM head are split into row ranges");
    // The CLI under a binding limit lowered to 8 KiB (doctor's own round trip still binds).
    const big = { ...QWEN05, vocab_size: 1000, hidden_size: 4096, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 8, max_position_embeddings: 16 };
    const r = spawnSync(process.execPath, ["cli/acpo.js", "doctor", "--model", modelDir(big)], { encoding: "utf8", timeout: 300_000, env: { ...process.env, ACPO_MAX_BINDING_BYTES: "8192" } });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("does not fit: weights: 'model.embed_tokens.weight' (1000 x 4096): one row of 16384 bytes exceeds one storage binding (8192 bytes), so it cannot be split into row ranges");
    expect(r.stdout).not.toContain("    at ");
  });

  it("acpo doctor --model on a small model fits (exit 0)", () => {
    const r = acpo("doctor", "--model", modelDir({ ...QWEN05, vocab_size: 1000, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 }));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("fits: every buffer is within the device's binding limit");
  });

  it("acpo train refuses a run that cannot fit before it starts, with the table, and writes no run", () => {
    const dir = mkdtempSync(join(tmpdir(), "acpo-plan-train-"));
    const model = join(dir, "model");
    mkdirSync(model);
    writeFileSync(join(model, "config.json"), JSON.stringify(QWEN05));
    const src = readFileSync("examples/grpo.acpo", "utf8").replace('model "../models/countdown-slips"', `model "${model}"`);
    writeFileSync(join(dir, "big.acpo"), src);
    const out = join(dir, "run");
    const r = acpo("train", join(dir, "big.acpo"), "--steps", "1", "--out", out);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("this run cannot fit the adapter (nothing was trained):");
    expect(r.stderr).toContain("memory plan, prompts counted as 1 token: train minibatch 128 x 97 tokens, sampling 128 rows x 97 positions, a reference policy");
    // 128 x 97 tokens: one (N, intermediate) activation alone is over the binding limit; the embedding splits.
    expect(r.stderr).toMatch(/does not fit: activations \(train\): one buffer of \d+ bytes exceeds maxStorageBufferBindingSize \(134217728\)/);
    expect(r.stderr).not.toContain("does not fit: weights");
    expect(r.stderr).not.toContain("    at "); // no stack trace
    expect(existsSync(out)).toBe(false);
  });
});
