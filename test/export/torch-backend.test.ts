// Differential tests of the PyTorch back end (compiler/torch/) against the float64
// interpreter, which defines what the IR means: every example's stages on irregular
// random batches, and random well-typed programs over every level, broadcast and
// reduction. Both sides compute in float64, so the tolerance is tight; the loss's
// derivative is PyTorch's autograd, checked against the IR's own d(loss)/d(logp), d(loss)/d(H).
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import type { Batch } from "../../compiler/interpret/batch.js";
import { interpretStage } from "../../compiler/interpret/stage.js";
import { lowerStage, type StageProgram } from "../../compiler/ir/stage.js";
import { stageFunction, stagesModule, tokenKeys } from "../../compiler/torch/index.js";
import { expectClose, rng } from "../helpers/numeric.js";
import { randomBatch } from "../compiler/backend/random-batch.js";
import { randomProgram } from "./random-program.js";
import { runTorchJobs, writePackage, type TorchResult } from "./torch.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".acpo")).sort();

/** Values at valid elements only: response tokens, used step slots. */
function keepValid(xs: Float64Array, b: Batch, level: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (level === "token" && b.stepIdx[i]! < 0) continue;
    if (level === "step" && !(b.stepLength[i]! > 0)) continue;
    out.push(xs[i]!);
  }
  return out;
}

/** A constant output (one element) repeated over `n` elements, as the interpreter reads it. */
const full = (g: Float64Array, n: number) => (g.length === n ? g : new Float64Array(n).fill(g[0]!));

function compare(prog: StageProgram, b: Batch, got: TorchResult, what: string, tol = 1e-9): void {
  const ref = interpretStage(prog, b);
  expectClose([got.outputs.loss![0]!], [ref.loss], tol, tol, `${what}: loss`);
  for (const k of tokenKeys(prog)) expectClose(keepValid(full(got.outputs[k]!, b.B * b.T), b, "token"), keepValid(ref.tokens[k as keyof typeof ref.tokens], b, "token"), tol, tol, `${what}: ${k}`);
  for (const n of ref.named) {
    const g = got.outputs[`named.${n.name}`]!;
    expectClose(keepValid(full(g, n.values.length), b, n.level), keepValid(n.values, b, n.level), tol, tol, `${what}: ${n.name}`);
  }
  // Autograd through the generated code is the IR's derivative.
  expect(got.grad, `${what}: loss has a gradient`).toBeDefined();
  expectClose(keepValid(got.grad!.logp, b, "token"), keepValid(ref.tokens.dlogp, b, "token"), tol, tol, `${what}: autograd d loss / d logp`);
  expectClose(keepValid(got.grad!.H, b, "token"), keepValid(ref.tokens.dH, b, "token"), tol, tol, `${what}: autograd d loss / d H`);
}

describe("PyTorch back end vs interpreter", () => {
  it("agrees on every example's stages (random batches, with and without logits)", () => {
    const progs = examples.flatMap((file) => {
      const p = loadPipeline(`examples/${file}`).pipeline!;
      return p.stages.map((s) => ({ file, prog: lowerStage(p, s), params: Object.fromEntries(p.params.map((q) => [q.name, q.value])) }));
    });
    const modules = Object.fromEntries(examples.map((file, i) => [`ex${i}`, stagesModule(progs.filter((x) => x.file === file).map((x) => x.prog), `examples/${file}`)]));
    const pkg = writePackage("acpo_examples", modules);
    const batches = [
      randomBatch({ groups: 3, perGroup: 5, T: 11, V: 37, S: 4 }, 3),
      randomBatch({ groups: 2, perGroup: 4, T: 7, V: 5, S: 3, logits: false }, 9),
    ];
    const jobs = progs.flatMap((x) => batches.map((batch) => ({ module: `ex${examples.indexOf(x.file)}`, fn: stageFunction(x.prog).name, batch, params: x.params, x })));
    const out = runTorchJobs(pkg, jobs);
    expect(out.length).toBe(progs.length * batches.length);
    jobs.forEach((j, i) => compare(j.x.prog, j.batch, out[i]!, `${j.x.file} ${j.x.prog.stage} batch ${i % batches.length}`));
  });

  it("agrees on random programs over every level, broadcast and reduction", () => {
    const jobs: { module: string; fn: string; batch: Batch; params: Record<string, number>; prog: StageProgram; text: string }[] = [];
    const modules: Record<string, string> = {};
    for (let k = 0; k < 24; k++) {
      const seed = 1000 + 7919 * k;
      const text = randomProgram(rng(seed));
      const res = loadPipeline("test/export/random.acpo", { text });
      if (!res.pipeline) throw new Error(`generator made an ill-typed program:\n${text}\n${res.diagnostics.map((d) => d.message).join("\n")}`);
      const prog = lowerStage(res.pipeline, res.pipeline.stages[0]!);
      modules[`rnd${k}`] = stagesModule([prog], "random program");
      const batch = randomBatch({ groups: 3, perGroup: 3, T: 7, V: 4, S: 3, logits: k % 2 === 0 }, seed);
      jobs.push({ module: `rnd${k}`, fn: stageFunction(prog).name, batch, params: prog.params, prog, text });
    }
    const out = runTorchJobs(writePackage("acpo_random", modules), jobs);
    jobs.forEach((j, i) => compare(j.prog, j.batch, out[i]!, `random program\n${j.text}`, 1e-8));
  });
});
