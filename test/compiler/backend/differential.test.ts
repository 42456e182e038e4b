// Differential test of the code generator: random well-typed expressions at every level
// (token, step, sequence, group, batch), with broadcasts between levels and every kind of
// reduction, evaluated by the interpreter (float64) and by the generated WGSL (float32)
// on random batches. Each random program puts expressions in a `let` per level (named
// values, materialized by the values kernel), in the advantage and in the token weight
// (loss-head columns). Few programs, several expressions each: lavapipe compiles every
// distinct shader, so the number of shaders is what costs time.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../../compiler/index.js";
import { generateStage } from "../../../compiler/codegen/index.js";
import { StageRunner } from "../../../compiler/codegen/runner.js";
import { releaseInputs, uploadBatch } from "../../../compiler/codegen/upload.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import type { Level } from "../../../compiler/levels.js";
import { testGpu } from "../../helpers/gpu.js";
import { expectClose, rng } from "../../helpers/numeric.js";
import { randomBatch } from "./random-batch.js";

const LEAVES: Record<Level, string[]> = {
  scalar: ["0.5", "2", "a", "G", "1e-3"],
  batch: [],
  group: ["accuracy"],
  sequence: ["r", "length"],
  step: ["C", "step_entropy", "step_length", "step_index"],
  token: ["H", "logp", "old_logp", "position", "rand", "p", "ratio"],
};
const ORDER: Level[] = ["scalar", "batch", "group", "sequence", "step", "token"];
const OVER: Partial<Record<Level, string>> = { batch: "batch", group: "group", sequence: "seq", step: "step" };

/** A random numeric expression whose level is at most `level` (exactly `level` when `exact`). */
function gen(r: () => number, level: Level, depth: number, exact = false): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const li = ORDER.indexOf(level);
  const sub = (d = depth - 1) => gen(r, ORDER[Math.floor(r() * (li + 1))]!, d);
  if (depth <= 0 || r() < 0.2) {
    // A reduction reaches batch and group levels, which have no leaves of their own.
    if (exact && level !== "scalar" && level !== "token" && (LEAVES[level].length === 0 || r() < 0.5)) return reduction(r, level, Math.max(depth, 1));
    if (exact || r() < 0.5) {
      const own = LEAVES[level];
      if (own.length > 0) return pick(own);
    }
    return pick(LEAVES[ORDER[Math.floor(r() * (li + 1))]!].concat(LEAVES.scalar));
  }
  const x = exact ? gen(r, level, depth - 1, true) : sub();
  switch (Math.floor(r() * 8)) {
    case 0: return `(${x} ${pick(["+", "-", "*"])} ${sub()})`;
    case 1: return `(${x} / (abs(${sub()}) + 1))`;
    case 2: return pick([`exp(clip(${x}, -5, 5))`, `tanh(${x})`, `sigmoid(${x})`]);
    case 3: return `(log(abs(${x}) + 1) + sqrt(abs(${x})))`;
    case 4: return `(if ${x} > ${sub()} then ${sub()} else ${x})`;
    case 5: return `${pick(["min", "max"])}(${x}, ${sub()})`;
    case 6: return `((${x}) ^ ${pick(["2", "3"])} / 10)`;
    default: return li > 0 && level !== "token" ? reduction(r, level, depth) : `(-${x})`;
  }
}

function reduction(r: () => number, level: Level, depth: number): string {
  const finer = ORDER.slice(ORDER.indexOf(level) + 1).filter((l) => l !== "batch" && !(level === "step" && l !== "token"));
  const from = finer[Math.floor(r() * finer.length)]!;
  const x = gen(r, from, depth - 1, true);
  const over = OVER[level]!;
  switch (Math.floor(r() * 7)) {
    case 0: return `mean(${x} over ${over})`;
    case 1: return `sum(${x} over ${over})`;
    case 2: return `std(${x} over ${over}, ${Math.floor(r() * 2)})`;
    case 3: return `min(${x} over ${over})`;
    case 4: return `max(${x} over ${over})`;
    case 5: return `median(${x} over ${over})`;
    default: return `quantile(${x} over ${over}, ${Math.floor(r() * 100) / 100})`;
  }
}

function program(seed: number): string {
  const r = rng(seed);
  return `pipeline rnd {
  model "m"
  task countdown { numbers 3..4 }
  rollout { prompts 4  group 4  temperature 1.0  max_tokens 16 }
  optimizer adamw { lr 1e-5 }
  segment newline { min_gap 1 }
  attribution loglik { judge policy }
  param a = 0.7
  let xb = ${gen(r, "batch", 3, true)}
  let xg = ${gen(r, "group", 3, true)}
  let xs = ${gen(r, "sequence", 3, true)}
  let xt = ${gen(r, "step", 3, true)}
  advantage = ${gen(r, "token", 3)} + xb + xg + xs + xt
  stage s until steps >= 10 { token_weight ${gen(r, "token", 2)} }
  loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }
}
`;
}

describe("random expressions: generated WGSL vs interpreter", () => {
  it("agree across levels, broadcasts and reductions", async () => {
    const gpu = await testGpu();
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), async (seed) => {
        const text = program(seed);
        const res = loadPipeline("test/compiler/backend/random.acpo", { text });
        if (!res.pipeline) throw new Error(`generator made an ill-typed program:\n${text}\n${res.diagnostics.map((d) => d.message).join("\n")}`);
        const prog = lowerStage(res.pipeline, res.pipeline.stages[0]!);
        const b = randomBatch({ groups: 3, perGroup: 3, T: 7, V: 4, S: 3, logits: false }, seed);
        const runner = new StageRunner(gpu, generateStage(prog));
        const inp = uploadBatch(gpu, b);
        const out = runner.run(inp);
        const ref = interpretStage(prog, b);
        const tok = await runner.readTokens(out, b.B * b.T);
        const tol = (xs: ArrayLike<number>) => 1e-4 * (1 + Math.max(0, ...Array.from(xs, (x) => (Number.isFinite(x) ? Math.abs(x) : 0))));
        for (const c of ["advantage", "weight"] as const) expectClose(tok[c], ref.tokens[c], tol(ref.tokens[c]), 1e-4, `${c} of\n${text}`);
        for (const x of await runner.readNamed(out, { B: b.B, T: b.T, S: b.S, NG: b.nGroups })) {
          const want = ref.named.find((y) => y.name === x.name)!.values;
          const keep = (i: number) => x.level !== "step" || b.stepLength[i]! > 0;
          const w = want.filter((_, i) => keep(i));
          expectClose(x.values.filter((_, i) => keep(i)), w, tol(w), 1e-4, `${x.name} of\n${text}`);
        }
        runner.release(out);
        releaseInputs(gpu, inp);
        checked++;
      }),
      { numRuns: 16, seed: 20240611, endOnFailure: true },
    );
    expect(checked).toBe(16);
  });
});
