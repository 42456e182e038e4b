// The shared-prefix forward and backward (transformer.ts forwardHiddenShared, shared-rows.ts,
// shared-attention.ts) against the whole-row path on the same rows: hidden states at every
// computed slot and every weight gradient of a loss that reads prompt and response slots alike.
// Rows are in mixed group order, prompts of different lengths, groups of different sizes
// (one of 1), GQA; both attention modes. Tolerance: each gradient tensor within 1e-4 of its
// largest magnitude (max relative error, f32), hidden states within 1e-5 + 1e-4 relative.
// The same comparison fails when one prompt slot's key gradient of one row is dropped or
// counted twice (a corrupted `fromFull` list), so it can catch a wrong sum over a group, and
// when attention's query offset (`qStart`) skips one query a row owns. The
// backward is also checked against central differences of the shared forward itself, and the
// memory plan's rows against the bytes the layout allocates.
import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { type ModelConfig, parseConfig } from "../../runtime/engine/model/config.js";
import { paddedRows } from "../../runtime/engine/model/padded-batch.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import { type SharedRowsPlan, sharedRowsPlan, uploadSharedRows } from "../../runtime/engine/model/shared-rows.js";
import { Transformer } from "../../runtime/engine/model/transformer.js";
import { GpuWeights } from "../../runtime/engine/model/weights.js";
import { activationBuffers, backwardBuffers } from "../../runtime/engine/model/memory.js";
import { rangedTestGpu, testGpu } from "../helpers/gpu.js";
import { randArray, randInts, rng } from "../helpers/numeric.js";

const config = (architecture: string, heads: number, kv: number, D: number): ModelConfig =>
  parseConfig({
    architectures: [architecture], vocab_size: 41, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2,
    num_attention_heads: heads, num_key_value_heads: kv, head_dim: D, max_position_embeddings: 64, rms_norm_eps: 1e-5,
    rope_theta: 500, tie_word_embeddings: architecture === "LlamaForCausalLM", initializer_range: 0.4,
  });

/** U prompts of different lengths, each answered by its group's rows (sizes differ), rows shuffled. */
function rowsOf(promptLens: number[], groupSizes: number[], V: number, seed: number) {
  const r = rng(seed);
  const prompts = promptLens.map((L, u) => Array.from(randInts(L, seed + u, V)));
  const seqs: number[][] = [], prompt: number[] = [];
  groupSizes.forEach((g, u) => {
    for (let i = 0; i < g; i++) {
      seqs.push([...prompts[u]!, ...randInts(2 + Math.floor(r() * 7), seed * 31 + seqs.length, V)]);
      prompt.push(promptLens[u]!);
    }
  });
  const order = seqs.map((_, i) => i).sort(() => r() - 0.5);
  const s = order.map((i) => seqs[i]!), p = order.map((i) => prompt[i]!);
  const padded = paddedRows(s, Math.max(...s.map((x) => x.length)) - 1);
  // As the update: the prompt's slots but the last are shared (the last one's target is response token 0); each row computes its slots up to its last target.
  return { padded, prefixLen: p.map((L) => L - 1), rowSlots: s.map((x) => x.length - 1) };
}

interface Pass { hidden: Float32Array; grads: Map<string, Float32Array> }

async function run(gpu: Gpu, model: Transformer, forward: () => ReturnType<Transformer["forwardHidden"]>, dlnF: Float32Array): Promise<Pass> {
  model.weights.zeroGrads();
  const hidden = await gpu.read(forward());
  const dl = model.hiddenGrad();
  gpu.write(dl, dlnF);
  model.backwardHidden(dl);
  const grads = new Map<string, Float32Array>();
  for (const [name, g] of model.weights.grads) grads.set(name, await gpu.read(g));
  return { hidden, grads };
}

/** Largest |a - b| / max |b| over the gradient tensors, and the tensor where it is. */
function worstGrad(a: Pass, b: Pass): { err: number; name: string } {
  let worst = { err: 0, name: "" };
  for (const [name, want] of b.grads) {
    const got = a.grads.get(name)!, scale = Math.max(...want.map(Math.abs), 1e-30);
    const err = Math.max(...got.map((x, i) => Math.abs(x - want[i]!))) / scale;
    if (!(err <= worst.err)) worst = { err, name };
  }
  return worst;
}

async function compare(gpu: Gpu, c: ModelConfig, rows: ReturnType<typeof rowsOf>, corrupt?: (p: SharedRowsPlan) => void) {
  const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 7)));
  const { padded, prefixLen, rowSlots } = rows, { B, T } = padded, C = c.hiddenSize;
  const plan = sharedRowsPlan(padded, prefixLen, rowSlots);
  corrupt?.(plan);
  const shared = uploadSharedRows(gpu, plan);
  // A loss reading every computed slot (prompt slots too), none past a row's end.
  const dlnF = Float32Array.from(randArray(B * T * C, 11), (x, i) => (Math.floor(i / C) % T < rowSlots[Math.floor(i / C / T)]! ? x : 0));
  const ids = gpu.upload(padded.ids), pos = gpu.upload(padded.pos);
  const whole = await run(gpu, model, () => model.forwardHidden(ids, pos, B, T), dlnF);
  const mode = model.attentionMode(B, T);
  const sh = await run(gpu, model, () => model.forwardHiddenShared(shared), dlnF);
  let hiddenErr = 0;
  for (let n = 0; n < B * T; n++) {
    const computed = n % T < rowSlots[Math.floor(n / T)]!;
    for (let k = 0; k < C; k++) {
      const g = sh.hidden[n * C + k]!, w = whole.hidden[n * C + k]!;
      hiddenErr = Math.max(hiddenErr, computed ? Math.abs(g - w) / (1e-1 + Math.abs(w)) : Math.abs(g));
    }
  }
  model.release();
  model.weights.release();
  shared.release();
  gpu.release(ids, pos);
  return { plan, mode, hiddenErr, grad: worstGrad(sh, whole) };
}

describe("the shared-prefix forward and backward equal the whole-row path", () => {
  it.each([
    // architecture, Hq, Hkv, D, prompt lengths, group sizes
    ["Qwen2ForCausalLM", 4, 2, 8, [5, 9, 3], [3, 1, 4]],
    ["LlamaForCausalLM", 6, 2, 4, [7, 2, 11, 4], [2, 3, 2, 5]],
    ["Qwen3ForCausalLM", 2, 1, 16, [6, 10], [4, 3]],
  ] as const)("%s, Hq %i / Hkv %i, D %i, prompts %j, groups %j", async (arch, Hq, Hkv, D, lens, sizes) => {
    const gpu = await testGpu();
    const c = config(arch, Hq, Hkv, D);
    const r = await compare(gpu, c, rowsOf([...lens], [...sizes], c.vocabSize, lens.length * 13 + D));
    expect(r.mode).toBe("saved");
    expect(r.plan.U).toBe(lens.length);
    expect(r.plan.N).toBeLessThan(r.plan.B * r.plan.T);
    expect(r.hiddenErr).toBeLessThan(1e-4);
    expect(r.grad.err, `worst gradient: ${r.grad.name}`).toBeLessThan(1e-4);
  });

  it("in recompute attention (probabilities past the binding limit) too", async () => {
    const c = config("Qwen2ForCausalLM", 4, 2, 8);
    const rows = rowsOf([20, 14], [2, 2], c.vocabSize, 5);
    // att would be B 4 x Hq 4 x T^2 floats (T >= 26: above 43 KiB); every other buffer binds within 32 KiB.
    const gpu = await rangedTestGpu(32_768);
    const r = await compare(gpu, c, rows);
    expect(r.mode).toBe("recompute");
    expect(r.hiddenErr).toBeLessThan(1e-4);
    expect(r.grad.err, `worst gradient: ${r.grad.name}`).toBeLessThan(1e-4);
  });

  it("fails when one prompt slot's key gradient of one row is dropped or counted twice", async () => {
    const gpu = await testGpu();
    const c = config("Qwen2ForCausalLM", 4, 2, 8);
    const rows = rowsOf([5, 8], [3, 2], c.vocabSize, 9);
    // Packed token 2 is prompt 0's third slot: its list names that slot in each of the group's 3 rows.
    const edit = (how: "drop" | "twice") => (p: SharedRowsPlan) => {
      const { offsets, idx } = p.fromFull, n = 2, lo = offsets[n]!, hi = offsets[n + 1]!;
      expect(hi - lo).toBe(3);
      const list = [...idx.subarray(lo, hi)];
      const changed = how === "drop" ? list.slice(1) : [...list, list[1]!];
      const all = [...idx.subarray(0, lo), ...changed, ...idx.subarray(hi)];
      p.fromFull = { offsets: Uint32Array.from(offsets, (o, i) => (i > n ? o + changed.length - list.length : o)), idx: Uint32Array.from(all) };
    };
    expect((await compare(gpu, c, rows)).grad.err).toBeLessThan(1e-4);
    for (const how of ["drop", "twice"] as const) expect((await compare(gpu, c, rows, edit(how))).grad.err, how).toBeGreaterThan(1e-3);
  });

  it("fails when attention skips a row's first own query (its query offset one too far)", async () => {
    const gpu = await testGpu();
    const c = config("Qwen2ForCausalLM", 4, 2, 8);
    const rows = rowsOf([5, 8], [3, 2], c.vocabSize, 9);
    const late = (p: SharedRowsPlan) => {
      const b = p.qStart.findIndex((q) => q > 0);
      p.qStart[b] = p.qStart[b]! + 1;
    };
    const r = await compare(gpu, c, rows, late);
    expect(r.hiddenErr).toBeGreaterThan(1e-3);
    expect(r.grad.err).toBeGreaterThan(1e-3);
  });
});

describe("a forward without grad (the update's old and reference log-probabilities)", () => {
  it("gives the same hidden bits, refuses a backward, and leaves the next forward's backward bits unchanged", async () => {
    const gpu = await testGpu();
    const c = config("Qwen2ForCausalLM", 4, 2, 8);
    const { padded, prefixLen, rowSlots } = rowsOf([7, 12], [3, 2], c.vocabSize, 21);
    const shared = uploadSharedRows(gpu, sharedRowsPlan(padded, prefixLen, rowSlots));
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 5)));
    const ids = gpu.upload(padded.ids), pos = gpu.upload(padded.pos), { B, T } = padded;
    const dlnF = Float32Array.from(randArray(B * T * c.hiddenSize, 12), (x, i) => (Math.floor(i / c.hiddenSize) % T < rowSlots[Math.floor(i / c.hiddenSize / T)]! ? x : 0));
    for (const [name, fwd] of [["shared", (g: boolean) => model.forwardHiddenShared(shared, g)], ["whole rows", (g: boolean) => model.forwardHidden(ids, pos, B, T, g)]] as const) {
      const first = await run(gpu, model, () => fwd(true), dlnF);
      // Without grad: att is scratch (scores, not probabilities), its upper triangle whatever it held.
      expect(await gpu.read(fwd(false)), name).toEqual(first.hidden);
      expect(() => model.backwardHidden(model.hiddenGrad()), name).toThrow(/without grad/);
      const again = await run(gpu, model, () => fwd(true), dlnF);
      expect(again.hidden, name).toEqual(first.hidden);
      for (const [w, g] of first.grads) expect(again.grads.get(w), `${name} ${w}`).toEqual(g);
    }
    model.release();
    model.weights.release();
    shared.release();
    gpu.release(ids, pos);
  });
});

describe("the shared-rows layout", () => {
  it("keeps each distinct prefix once and refuses prefixes longer than a row", () => {
    const padded = paddedRows([[1, 2, 3, 4], [1, 2, 3, 5, 6], [7, 2, 3], [1, 2, 3, 4]], 4);
    const p = sharedRowsPlan(padded, [2, 2, 2, 2], [3, 4, 2, 3]);
    expect(p.U).toBe(2);
    expect(Array.from(p.prefixOf)).toEqual([0, 0, 1, 0]);
    expect(p.N).toBe(2 + 2 + 1 + 2 + 0 + 1); // prefixes 2 + 2, own slots 1, 2, 0, 1
    expect(Array.from(p.toFull.subarray(0, 4))).toEqual([0, 1, 4, p.N]); // row 0: prefix 0, its own slot, past its end
    expect(Array.from(p.toFullFirst.subarray(12, 16))).toEqual([p.N, p.N, 7, p.N]); // row 3 is not its group's first
    expect(Array.from(p.qStart)).toEqual([0, 2, 0, 2]); // attention skips the queries of rows 1 and 3 before their own slots
    expect(() => sharedRowsPlan(padded, [2, 2, 3, 2], [3, 4, 2, 3])).toThrow("row 2 has prefix 3 and 2 slots");
  });
});

describe("the memory plan counts the shared-prefix layout's buffers", () => {
  it.each([["Qwen2ForCausalLM", 4, 2, 8], ["Qwen3ForCausalLM", 2, 1, 16]] as const)("%s: bytes held after forwardHiddenShared and after its backward scratch equal the plan's rows", async (arch, Hq, Hkv, D) => {
    const gpu = await testGpu();
    const c = config(arch, Hq, Hkv, D);
    const { padded, prefixLen, rowSlots } = rowsOf([6, 9], [3, 2], c.vocabSize, 3);
    const shared = uploadSharedRows(gpu, sharedRowsPlan(padded, prefixLen, rowSlots));
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 3)));
    const before = gpu.memory.live;
    model.forwardHiddenShared(shared);
    const afterForward = gpu.memory.live;
    model.hiddenGrad();
    const scratch = gpu.memory.live - afterForward;
    const { B, T } = padded, sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(afterForward - before).toBe(sum(activationBuffers(c, B, T, undefined, shared.N)));
    expect(scratch).toBe(sum(backwardBuffers(c, B, T, undefined, shared.N)));
    // The plan of a shared-prefix run (at its most packed tokens, B x T) holds the whole-row plan and the layout's extra buffers.
    const whole = sum(activationBuffers(c, B, T)) + sum(backwardBuffers(c, B, T));
    expect(sum(activationBuffers(c, B, T, undefined, B * T)) + sum(backwardBuffers(c, B, T, undefined, B * T))).toBeGreaterThan(whole);
    model.release();
    model.weights.release();
    shared.release();
  });
});

describe("the shared-prefix backward against finite differences", () => {
  it("d<hidden, W>/d(weight) of prompt-token embeddings, a k projection and a norm match central differences of the shared forward", async () => {
    const gpu = await testGpu();
    const c = config("Qwen2ForCausalLM", 4, 2, 8);
    const { padded, prefixLen, rowSlots } = rowsOf([5, 7], [3, 2], c.vocabSize, 21);
    const shared = uploadSharedRows(gpu, sharedRowsPlan(padded, prefixLen, rowSlots));
    const model = new Transformer(gpu, new GpuWeights(gpu, c, initWeights(c, 5)));
    const { B, T } = padded, C = c.hiddenSize;
    const W = Float32Array.from(randArray(B * T * C, 13), (x, i) => (Math.floor(i / C) % T < rowSlots[Math.floor(i / C / T)]! ? x : 0));
    const loss = async () => Array.from(await gpu.read(model.forwardHiddenShared(shared))).reduce((s, h, i) => s + h * W[i]!, 0);
    model.weights.zeroGrads();
    model.forwardHiddenShared(shared);
    const dl = model.hiddenGrad();
    gpu.write(dl, W);
    model.backwardHidden(dl);
    // The first prompt token's embedding row (read by every row of its group), a k_proj weight, a norm weight.
    const probes: [string, number][] = [["model.embed_tokens.weight", padded.ids[0]! * C + 3], ["model.layers.0.self_attn.k_proj.weight", 17], ["model.layers.1.input_layernorm.weight", 5]];
    for (const [name, i] of probes) {
      const w = model.weights.get(name), host = await gpu.read(w), g = (await gpu.read(model.weights.grad(name)))[i]!, h = 1e-2, x0 = host[i]!;
      host[i] = x0 + h;
      gpu.write(w, host);
      const up = await loss();
      host[i] = x0 - h;
      gpu.write(w, host);
      const down = await loss();
      host[i] = x0;
      gpu.write(w, host);
      const fd = (up - down) / (2 * h);
      expect(Math.abs(g), name).toBeGreaterThan(1e-3);
      expect(Math.abs(fd - g), `${name}[${i}]: backward ${g}, finite differences ${fd}`).toBeLessThan(2e-2 * Math.abs(g) + 1e-3);
    }
    model.release();
    model.weights.release();
    shared.release();
  });
});
