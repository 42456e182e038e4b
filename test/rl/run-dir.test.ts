// Run directories: jsonl files, samples readable by replay's parser, config.resolved.json,
// checkpoints (bit-exact round trip, atomicity, keep-K, broken checkpoints), resume.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { readBatchFile } from "../../compiler/plan/batch-file.js";
import { saveCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { AdamWOptimizer } from "../../runtime/engine/model/optimizer.js";
import { Policy } from "../../runtime/engine/model/policy.js";
import { initWeights } from "../../runtime/engine/model/presets.js";
import type { TensorMap } from "../../runtime/engine/model/safetensors.js";
import { CONFIG_FILE, RunDir, RunDirError, timestamp } from "../../runtime/loop/run/run-dir.js";
import { pickSamples, sampleLine } from "../../runtime/loop/run/run-dir-samples.js";
import type { EvalRecord, Trajectory } from "../../runtime/loop/rl/types.js";
import { Rng } from "../../runtime/engine/rng.js";
import { testGpu } from "../helpers/gpu.js";
import { ckData, fakeMetrics, fakeMoments, tinyModel } from "./run-fixtures.js";

const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `acpo-run-${tag}-`));
const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);

function traj(group: number, L: number, reward: number, opts: { K?: number; C?: number[] } = {}): Trajectory {
  const K = opts.K ?? 1;
  const boundaries = Array.from({ length: K }, (_, k) => Math.floor((k * L) / K)).concat([L]);
  return {
    problem: { id: `p${group}`, split: "train", prompt: `prompt ${group}` },
    group,
    promptIds: [1, 5, 6],
    responseIds: Array.from({ length: L }, (_, t) => 10 + ((t * 7 + group) % 90)),
    oldLogp: Array.from({ length: L }, (_, t) => -0.1 - 0.01 * t),
    entropies: Array.from({ length: L }, (_, t) => 0.5 + 0.1 * (t % 3)),
    text: "First, 3+4=7. <answer>7</answer>",
    verdict: { reward, correct: reward > 0, answer: "7", reason: reward > 0 ? "correct" : "wrong value" },
    segmentation: K > 1 ? { boundaries, answer: null, reasoningSteps: K } : null,
    C: opts.C ?? [],
  };
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function expectSameTensors(got: TensorMap, want: TensorMap): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, t] of want) {
    expect(got.get(name)!.shape, name).toEqual(t.shape);
    expect(sameBits(got.get(name)!.data, t.data), `${name} bits`).toBe(true);
  }
}

describe("run directory files", () => {
  it("names runs <name>-<YYYYMMDD-HHMMSS>, adds a suffix on a clash, and refuses an --out that holds a run", () => {
    const root = tmp("names");
    const now = new Date(2025, 0, 2, 3, 4, 5);
    expect(timestamp(now)).toBe("20250102-030405");
    const a = RunDir.create({ name: "acpo", root, now });
    const b = RunDir.create({ name: "acpo", root, now });
    expect(a.path).toBe(join(root, "acpo-20250102-030405"));
    expect(b.path).toBe(join(root, "acpo-20250102-030405-2"));
    const out = join(root, "mine");
    const c = RunDir.create({ name: "acpo", out });
    expect(c.path).toBe(out);
    c.appendMetrics(fakeMetrics(1, "s", new Rng(0)));
    c.saveCheckpoint(ckData(1, tinyModel(0), new Rng(0)));
    c.close();
    expect(() => RunDir.create({ name: "acpo", out })).toThrow(/already holds a run; continue it with --resume/);
  });

  it("writes one metrics/eval line per call, NaN and infinities as null", () => {
    const run = RunDir.create({ name: "t", out: join(tmp("metrics"), "r") });
    const rng = new Rng(1);
    const m1 = fakeMetrics(1, "explore", rng);
    const m2 = { ...fakeMetrics(2, "explore", rng), loss: NaN, grad_norm: Infinity, kl: -Infinity };
    run.appendMetrics(m1);
    run.appendMetrics(m2);
    const ev: EvalRecord = { step: 2, stage: "explore", split: "test", problems: 50, samples: 8, temperature: 1, metrics: { "acc@8": 0.41, "pass@8": NaN }, mean_response_tokens: 37.5 };
    run.appendEval(ev);
    run.close();
    const ms = lines(join(run.path, "metrics.jsonl"));
    expect(ms).toEqual([m1, { ...m2, loss: null, grad_norm: null, kl: null }]);
    expect(lines(join(run.path, "eval.jsonl"))).toEqual([{ ...ev, metrics: { "acc@8": 0.41, "pass@8": null } }]);
  });

  it("writes samples.jsonl lines that replay's batch parser reads back exactly", () => {
    const run = RunDir.create({ name: "t", out: join(tmp("samples"), "r") });
    const trajs = [traj(3, 9, 1, { K: 3, C: [0.5, -0.25] }), traj(3, 5, 0, { K: 2, C: [0.125] }), traj(7, 6, 0, { K: 1, C: [2] }), traj(7, 4, 1, { K: 1, C: [1] })];
    const picked = pickSamples(trajs, 2);
    expect(picked).toEqual([0, 1]); // whole first group
    expect(pickSamples(trajs, 3)).toEqual([0, 1, 2, 3]);
    const cur = (t: Trajectory) => ({
      logp: t.oldLogp.map((x, i) => (i === 1 ? NaN : x - 0.01)),
      entropy: t.entropies.map((x) => x * 1.5),
      refLogp: t.oldLogp.map((x) => x - 0.02),
    });
    const ls = trajs.map((t) => sampleLine(t, cur(t), { step: 4, stage: "converge" }));
    run.appendSamples(ls);
    run.close();
    const path = join(run.path, "samples.jsonl");
    const f = readBatchFile(path);
    expect(f.groups).toEqual([3, 3, 7, 7]);
    expect(f.lengths).toEqual([9, 5, 6, 4]);
    expect(f.has).toEqual({ C: true, ref: true, format: true, rollout: false, stepReward: false, mc: false, judge: false }); // samples.jsonl holds the sampler's log-probs as old_logp, no separate rollout_logp
    const b = f.batch;
    expect([b.B, b.T, b.S, b.nGroups]).toEqual([4, 9, 3, 2]);
    expect(Array.from(b.reward)).toEqual([1, 0, 0, 1]);
    // Trajectory 0: steps start at 0, 3, 6; C is padded with 0 for the unscored last step.
    expect(Array.from(b.C.subarray(0, 3))).toEqual([0.5, -0.25, 0]);
    expect(Array.from(b.stepLength.subarray(0, 3))).toEqual([3, 3, 3]);
    expect(Array.from(b.stepIdx.subarray(0, 9))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const t0 = trajs[0]!;
    expect(b.stepEntropy[1]).toBeCloseTo((t0.entropies[3]! + t0.entropies[4]! + t0.entropies[5]!) / 3, 12);
    for (let i = 0; i < 4; i++) {
      const t = trajs[i]!;
      const c = cur(t);
      for (let k = 0; k < t.responseIds.length; k++) {
        const n = i * b.T + k;
        expect(b.ids[n]).toBe(t.responseIds[k]);
        expect(b.oldLogp[n]).toBe(t.oldLogp[k]);
        expect(b.refLogp![n]).toBe(c.refLogp[k]);
        expect(b.H![n]).toBe(c.entropy[k]);
        if (k === 1) expect(b.logp![n]).toBeNaN();
        else expect(b.logp![n]).toBe(c.logp[k]);
      }
    }
    const raw = lines(path)[0]!;
    expect(raw).toMatchObject({ step: 4, stage: "converge", problem: "p3", prompt: "prompt 3", step_starts: [0, 3, 6], old_entropy: t0.entropies });
  });

  it("omits C without attribution and ref_logp without a reference; rejects arrays of the wrong length", () => {
    const t = traj(0, 4, 1);
    const line = sampleLine(t, { logp: t.oldLogp, entropy: t.entropies }, { step: 1, stage: "s" });
    expect(line.C).toBeUndefined();
    expect(line.ref_logp).toBeUndefined();
    expect(line.step_starts).toEqual([0]);
    expect(() => sampleLine(t, { logp: [0], entropy: t.entropies }, { step: 1, stage: "s" })).toThrow(/logp has 1 entries, the response has 4 tokens/);
  });

  it("config.resolved.json holds the printed pipeline (which checks again), its fields, seed, adapter and version", () => {
    const { pipeline } = loadPipeline("examples/acpo.acpo", { set: ["alpha=0.25"] });
    expect(pipeline).toBeDefined();
    const run = RunDir.create({ name: pipeline!.name, out: join(tmp("config"), "r") });
    run.writeConfig({ pipeline: pipeline!, seed: 7, adapter: "lavapipe (test)", set: ["alpha=0.25"], steps: 10 });
    const c = run.readConfig();
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(c).toMatchObject({ format: "acpo-run", acpo_version: pkg.version, seed: 7, steps: 10, set: ["alpha=0.25"], adapter: { description: "lavapipe (test)" } });
    const again = loadPipeline(join(run.path, "printed.acpo"), { text: c.pipeline_text as string });
    expect(again.diagnostics).toEqual([]);
    expect(again.pipeline!.params.find((q) => q.name === "alpha")!.value).toBe(0.25);
    const pj = c.pipeline as { stages: { name: string; until: string; kl: string | null }[]; params: { name: string; min: number | null }[]; rollout: unknown };
    expect(pj.stages.map((s) => [s.name, s.until, s.kl])).toEqual([["explore", "steps >= 167", null], ["converge", "steps >= 33", "0.01 * k3"]]);
    expect(pj.rollout).toEqual(pipeline!.rollout);
    expect(pj.params.find((q) => q.name === "eps")!.min).toBe(0);
  });
});

describe("checkpoints", () => {
  it("round-trip policy, optimizer moments, reference, RNG and loop state bit-exactly; keep the newest K", () => {
    const root = join(tmp("ck"), "r");
    const run = RunDir.create({ name: "t", out: root, keep: 2 });
    run.writeConfig({ pipeline: loadPipeline("examples/grpo.acpo").pipeline!, seed: 0, adapter: "test" });
    const model = tinyModel(1);
    const ref = initWeights(model.config, 9);
    const rng = new Rng(42);
    for (let i = 0; i < 5; i++) rng.nextU32();
    for (const step of [2, 4, 6]) {
      for (const s of [step - 1, step]) run.appendMetrics(fakeMetrics(s, "converge", new Rng(s)));
      run.saveCheckpoint(ckData(step, model, rng, { references: { explore: ref }, stage: "converge", stageStartStep: 2 }));
    }
    run.close();
    expect(readdirSync(root).filter((f) => f.startsWith("checkpoint-")).sort()).toEqual(["checkpoint-4", "checkpoint-6"]);
    expect(readFileSync(join(root, "latest"), "utf8")).toBe("checkpoint-6\n");

    const { checkpoint, notes, warnings } = RunDir.open(root);
    expect(notes).toEqual([]);
    expect(warnings).toEqual([]);
    const ck = checkpoint!;
    expect(ck.dir).toBe(join(root, "checkpoint-6"));
    expect([ck.step, ck.stage, ck.stageStartStep, ck.skippedUpdates, ck.optimizer.t]).toEqual([6, "converge", 2, 1, 6]);
    expect(ck.sampler).toEqual({ cursor: 96, priorities: { p1: 0.25, p2: null } });
    expectSameTensors(ck.policy.weights, model.weights);
    expectSameTensors(ck.optimizer.tensors, fakeMoments(model.weights, new Rng(6)));
    expectSameTensors(ck.references.explore!.weights, ref);
    expect(ck.policy.tokenizer).toEqual(model.tokenizer);
    const resumed = new Rng(ck.rng);
    expect(Array.from({ length: 8 }, () => resumed.nextU32())).toEqual(Array.from({ length: 8 }, () => rng.nextU32()));
  });

  it("ignores a checkpoint killed mid-write (tmp dir, truncated safetensors) and uses the previous one", () => {
    const root = join(tmp("kill"), "r");
    const run = RunDir.create({ name: "t", out: root, keep: 3 });
    run.writeConfig({ pipeline: loadPipeline("examples/grpo.acpo").pipeline!, seed: 0, adapter: "test" });
    const model = tinyModel(2);
    for (const step of [2, 4, 6]) run.saveCheckpoint(ckData(step, model, new Rng(step)));
    run.close();
    // A write killed before its rename: a tmp dir with a half-written weights file.
    const tmpDir = join(root, "checkpoint-8.tmp-99999");
    mkdirSync(tmpDir);
    writeFileSync(join(tmpDir, "model.safetensors"), readFileSync(join(root, "checkpoint-6", "model.safetensors")).subarray(0, 1000));
    // And the newest complete-looking checkpoint's weights cut short (e.g. a disk problem).
    const weights = join(root, "checkpoint-6", "model.safetensors");
    truncateSync(weights, statSync(weights).size - 100);

    const { checkpoint, notes, warnings } = RunDir.open(root);
    expect(checkpoint!.step).toBe(4);
    expect(notes.join("\n")).toContain(`ignoring ${tmpDir}: an incomplete checkpoint (its write was interrupted)`);
    expect(warnings.join("\n")).toContain(`checkpoint ${join(root, "checkpoint-6")} is unusable: ${weights}:`);
    expect(warnings.join("\n")).toContain("(truncated or overwritten)");
    expect(warnings.join("\n")).toContain(`using the older checkpoint ${join(root, "checkpoint-4")} instead (step 4)`);
    expect(existsSync(tmpDir)).toBe(false);
    expect(existsSync(join(root, "checkpoint-6.broken"))).toBe(true);
    expect(existsSync(join(root, "checkpoint-6"))).toBe(false);
  });

  it("names the bad file when a checkpoint file is corrupt without changing size, and errors when none is usable", () => {
    const root = join(tmp("corrupt"), "r");
    const run = RunDir.create({ name: "t", out: root });
    run.writeConfig({ pipeline: loadPipeline("examples/grpo.acpo").pipeline!, seed: 0, adapter: "test" });
    run.saveCheckpoint(ckData(3, tinyModel(3), new Rng(3)));
    run.close();
    const opt = join(root, "checkpoint-3", "optimizer.safetensors");
    const bytes = readFileSync(opt);
    bytes.fill(0x7b, 8, 40); // garble the JSON header in place
    writeFileSync(opt, bytes);
    expect(() => RunDir.open(root)).toThrow(RunDirError);
    expect(() => RunDir.open(root)).toThrow(/no complete checkpoint to resume from; every checkpoint is unusable:\n  .*optimizer\.safetensors: SHA-256 differs/);
    expect(() => RunDir.open(join(root, "nope"))).toThrow(/no such run directory/);
  });

  it("resume after a kill mid-step gives the same files as an uninterrupted run", () => {
    const model = tinyModel(4);
    const pipeline = loadPipeline("examples/grpo.acpo").pipeline!;
    // A fake loop: each step draws its metrics and samples from the run's RNG.
    const step = (run: RunDir, s: number, rng: Rng) => {
      run.appendMetrics(fakeMetrics(s, "train", rng));
      const ts = [traj(0, 3 + rng.int(5), rng.int(2)), traj(0, 4, 1)];
      run.appendSamples(ts.map((t) => sampleLine(t, { logp: t.oldLogp, entropy: t.entropies }, { step: s, stage: "train" })));
      if (s % 3 === 0) run.appendEval({ step: s, stage: "train", split: "test", problems: 4, samples: 2, temperature: 1, metrics: { "acc@2": rng.uniform() }, mean_response_tokens: 5 });
      if (s % 2 === 0) run.saveCheckpoint(ckData(s, model, rng));
    };
    const full = RunDir.create({ name: "t", out: join(tmp("full"), "r") });
    full.writeConfig({ pipeline, seed: 0, adapter: "test" });
    let rng = new Rng(5);
    full.appendEval({ step: 0, stage: "train", split: "test", problems: 4, samples: 2, temperature: 1, metrics: { "acc@2": 0.5 }, mean_response_tokens: 5 });
    for (let s = 1; s <= 7; s++) step(full, s, rng);
    full.close();

    const killed = RunDir.create({ name: "t", out: join(tmp("killed"), "r") });
    killed.writeConfig({ pipeline, seed: 0, adapter: "test" });
    rng = new Rng(5);
    killed.appendEval({ step: 0, stage: "train", split: "test", problems: 4, samples: 2, temperature: 1, metrics: { "acc@2": 0.5 }, mean_response_tokens: 5 });
    for (let s = 1; s <= 5; s++) step(killed, s, rng);
    killed.appendMetrics(fakeMetrics(6, "train", rng));
    killed.close();
    writeFileSync(join(killed.path, "samples.jsonl"), '{"group":0,"rew', { flag: "a" }); // the kill cut this write

    const { run, checkpoint: ck, notes, warnings } = RunDir.open(killed.path);
    const checkpoint = ck!;
    expect(checkpoint.step).toBe(4);
    expect(warnings).toEqual([]); // nothing before the checkpoint was lost
    expect(notes).toContain(`${join(killed.path, "samples.jsonl")}:11: removed a last line cut short by the interruption`);
    expect(notes).toContain(`${join(killed.path, "metrics.jsonl")}: dropped 2 lines after step 4, to be written again`);
    expect(lines(join(killed.path, "metrics.jsonl")).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(lines(join(killed.path, "eval.jsonl")).map((m) => m.step)).toEqual([0, 3]);
    rng = new Rng(checkpoint.rng);
    for (let s = checkpoint.step + 1; s <= 7; s++) step(run, s, rng);
    run.close();
    for (const f of ["metrics.jsonl", "eval.jsonl", "samples.jsonl"]) {
      expect(readFileSync(join(killed.path, f), "utf8"), f).toBe(readFileSync(join(full.path, f), "utf8"));
    }
    expect(readdirSync(killed.path).filter((f) => f.startsWith("checkpoint-")).sort()).toEqual(["checkpoint-4", "checkpoint-6"]);
  });

  it("reports a damaged line in the middle of a run file with its line number", () => {
    const root = join(tmp("midline"), "r");
    const run = RunDir.create({ name: "t", out: root });
    run.writeConfig({ pipeline: loadPipeline("examples/grpo.acpo").pipeline!, seed: 0, adapter: "test" });
    run.appendMetrics(fakeMetrics(1, "train", new Rng(0)));
    run.saveCheckpoint(ckData(1, tinyModel(5), new Rng(1)));
    run.close();
    writeFileSync(join(root, "metrics.jsonl"), `{"step": 1}\n{oops\n{"step": 2}\n`);
    expect(() => RunDir.open(root)).toThrow(`${join(root, "metrics.jsonl")}:2: not valid JSON`);
    expect(existsSync(join(root, CONFIG_FILE))).toBe(true);
  });
});

describe("checkpoints of a live policy and optimizer", () => {
  it("restore weights, AdamW moments and step count bit-exactly into a fresh policy", async () => {
    const gpu = await testGpu();
    const dir = tmp("policy");
    const model = tinyModel(6);
    saveCheckpoint(dir, model);
    const policy = Policy.load(gpu, dir);
    const opt = new AdamWOptimizer(gpu, policy.weights, { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 });
    const rng = new Rng(11);
    for (let t = 0; t < 2; t++) {
      for (const g of policy.weights.grads.values()) gpu.write(g, Float32Array.from({ length: g.size }, () => rng.normal()));
      opt.step();
    }
    const root = join(tmp("live"), "r");
    const run = RunDir.create({ name: "t", out: root });
    run.writeConfig({ pipeline: loadPipeline("examples/grpo.acpo").pipeline!, seed: 0, adapter: gpu.info });
    const weights = await policy.weights.download();
    const state = await opt.state();
    run.saveCheckpoint({ ...ckData(2, { ...policy.checkpoint, weights }, rng), optimizer: state });
    run.close();
    expect(run.readConfig().adapter).toMatchObject({ backend: gpu.info.backend, description: gpu.info.description });

    const { checkpoint, run: reopened } = RunDir.open(root);
    reopened.close();
    const restored = Policy.load(gpu, checkpoint!.dir);
    const opt2 = new AdamWOptimizer(gpu, restored.weights, opt.config);
    opt2.loadState(checkpoint!.optimizer.t, checkpoint!.optimizer.tensors);
    expect(opt2.t).toBe(2);
    expectSameTensors(await restored.weights.download(), weights);
    expectSameTensors((await opt2.state()).tensors, state.tensors);
    // One more identical update from both gives identical weights.
    for (const [name, g] of policy.weights.grads) {
      const data = Float32Array.from({ length: g.size }, (_, i) => Math.sin(i + name.length));
      gpu.write(g, data);
      gpu.write(restored.weights.grad(name), data);
    }
    opt.step();
    opt2.step();
    expectSameTensors(await restored.weights.download(), await policy.weights.download());
    opt.release();
    opt2.release();
    policy.release();
    restored.release();
  });
});
