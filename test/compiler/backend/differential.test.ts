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
import { testGpu } from "../../helpers/gpu.js";
import { expectClose, rng } from "../../helpers/numeric.js";
import { type Leaves, randomExpr } from "../../helpers/random-expr.js";
import { randomBatch } from "./random-batch.js";

const LEAVES: Leaves = {
  scalar: ["0.5", "2", "a", "G", "1e-3"],
  batch: [],
  group: ["accuracy"],
  sequence: ["r", "length"],
  step: ["C", "step_entropy", "step_length", "step_index", "step_reward"],
  token: ["H", "logp", "old_logp", "position", "rand", "p", "ratio"],
};
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
  let xb = ${randomExpr(r, LEAVES, "batch", 3, true)}
  let xg = ${randomExpr(r, LEAVES, "group", 3, true)}
  let xs = ${randomExpr(r, LEAVES, "sequence", 3, true)}
  let xt = ${randomExpr(r, LEAVES, "step", 3, true)}
  advantage = ${randomExpr(r, LEAVES, "token", 3)} + xb + xg + xs + xt
  stage s until steps >= 10 { token_weight ${randomExpr(r, LEAVES, "token", 2)} }
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
