// The Qwen-shaped benchmark's model and sizes (bench/suites/qwen-shaped-model.ts): the
// config is Qwen2.5-0.5B's architecture, the fallbacks are the largest shapes lavapipe's
// 128 MiB binding takes, and malformed ACPO_BENCH_QWEN_* values are errors naming the
// variable and the expected form.
import { describe, expect, it } from "vitest";
import { bucketBytes } from "../../runtime/engine/gpu.js";
import { parameterCount, parameterSpecs } from "../../runtime/engine/model/layout.js";
import { binds, fittingHidden, fittingVocab, QWEN_DEFAULTS, qwenConfig, qwenSizes } from "../../bench/suites/qwen-shaped-model.js";

const LAVAPIPE = { maxStorageBufferBindingSize: 134217728 };

describe("the Qwen2.5-0.5B-shaped config", () => {
  it("has Qwen2.5-0.5B's 494,032,768 parameters at 24 layers, with q/k/v biases and a tied head", () => {
    const c = qwenConfig(24);
    expect(parameterCount(c)).toBe(494_032_768);
    expect([c.hiddenSize, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.vocabSize, c.ropeTheta]).toEqual([896, 14, 2, 64, 4864, 151936, 1e6]);
    const names = parameterSpecs(c).map((s) => s.name);
    expect(names).toContain("model.layers.0.self_attn.k_proj.bias");
    expect(names).not.toContain("model.layers.0.self_attn.o_proj.bias");
    expect(names).not.toContain("lm_head.weight");
    expect(qwenConfig(2).numLayers).toBe(2);
  });

  it("drops the special ids when a fallback vocabulary does not contain them", () => {
    const c = qwenConfig(2, { vocab: 37440 });
    expect([c.vocabSize, c.bosTokenId, c.eosTokenId]).toEqual([37440, null, []]);
  });
});

describe("fallback shapes for a 128 MiB binding", () => {
  it("the real (151,936, 896) embedding does not bind; 37,440 rows do and 37,504 do not", () => {
    expect(bucketBytes(151936 * 896 * 4)).toBe(603979776);
    expect(binds(LAVAPIPE, 151936, 896)).toBe(false);
    expect(fittingVocab(LAVAPIPE, 896)).toBe(37440);
    expect(binds(LAVAPIPE, 37504, 896)).toBe(false);
  });

  it("at vocabulary 151,936 the widest multiple of 64 that binds is 192", () => {
    expect(fittingHidden(LAVAPIPE, 151936, 896)).toBe(192);
    expect(binds(LAVAPIPE, 151936, 256)).toBe(false);
    expect(fittingHidden({ maxStorageBufferBindingSize: 2 ** 31 }, 151936, 896)).toBe(896);
  });
});

describe("ACPO_BENCH_QWEN_* sizes", () => {
  it("unset variables keep the defaults; set ones replace them", () => {
    expect(qwenSizes({}, QWEN_DEFAULTS)).toEqual(QWEN_DEFAULTS);
    const s = qwenSizes({ ACPO_BENCH_QWEN_LAYERS: "24", ACPO_BENCH_QWEN_TRAIN: "2x128", ACPO_BENCH_QWEN_SAMPLE: "4x32+16", ACPO_BENCH_QWEN_HEAD: "512, 2048", ACPO_BENCH_QWEN_REPS: "3" }, QWEN_DEFAULTS);
    expect(s).toEqual({ layers: [24], train: { B: 2, T: 128 }, sample: { prompts: 4, promptLen: 32, newTokens: 16 }, head: [512, 2048], reps: 3, torchThreads: ["all", 1] });
  });

  it("ACPO_BENCH_QWEN_HEAD=none drops the head table and ACPO_BENCH_QWEN_TORCH picks PyTorch's thread settings", () => {
    expect(qwenSizes({ ACPO_BENCH_QWEN_HEAD: "none", ACPO_BENCH_QWEN_TORCH: "all" }, QWEN_DEFAULTS)).toMatchObject({ head: [], torchThreads: ["all"] });
    expect(qwenSizes({ ACPO_BENCH_QWEN_TORCH: "1" }, QWEN_DEFAULTS).torchThreads).toEqual([1]);
    expect(qwenSizes({ ACPO_BENCH_QWEN_LAYERS: "none" }, QWEN_DEFAULTS).layers).toEqual([]);
  });

  it.each([
    ["ACPO_BENCH_QWEN_LAYERS", "24,two", "ACPO_BENCH_QWEN_LAYERS=24,two: expected layer counts separated by commas, e.g. 2,24, or none"],
    ["ACPO_BENCH_QWEN_TRAIN", "64", "ACPO_BENCH_QWEN_TRAIN=64: expected BxT (sequences x tokens), e.g. 1x64"],
    ["ACPO_BENCH_QWEN_TRAIN", "0x64", "ACPO_BENCH_QWEN_TRAIN=0x64: expected BxT (sequences x tokens), e.g. 1x64"],
    ["ACPO_BENCH_QWEN_SAMPLE", "2x16", "ACPO_BENCH_QWEN_SAMPLE=2x16: expected PxL+N (prompts x prompt tokens + new tokens), e.g. 2x16+8"],
    ["ACPO_BENCH_QWEN_HEAD", "-64", "ACPO_BENCH_QWEN_HEAD=-64: expected token counts separated by commas, e.g. 64,512, or none"],
    ["ACPO_BENCH_QWEN_TORCH", "all,2", "ACPO_BENCH_QWEN_TORCH=all,2: expected PyTorch thread settings separated by commas: all (every core), 1 (one thread), e.g. all,1"],
    ["ACPO_BENCH_QWEN_REPS", "1.5", "ACPO_BENCH_QWEN_REPS=1.5: expected a positive integer (timed repetitions after one warm-up)"],
  ])("%s=%s is refused with the form it expects", (name, value, message) => {
    expect(() => qwenSizes({ [name]: value }, QWEN_DEFAULTS)).toThrow(message);
  });
});
