// Every example pipeline: its compiled stage kernels pass Dawn's validation and agree with
// the interpreter on a random batch (loss, dlogits, per-token columns, named values,
// summary), with and without logits. The interpreter's dlogits are checked against finite
// differences in interpret.test.ts, so the GPU gradient is transitively checked too.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../../compiler/index.js";
import { generateStage } from "../../../compiler/codegen/index.js";
import { K_TOK, TOK_COLUMNS } from "../../../compiler/codegen/layout.js";
import { StageRunner } from "../../../compiler/codegen/runner.js";
import { releaseInputs, uploadBatch } from "../../../compiler/codegen/upload.js";
import type { Batch } from "../../../compiler/interpret/batch.js";
import { interpretStage } from "../../../compiler/interpret/stage.js";
import { SUMMARY_FIELDS } from "../../../compiler/interpret/summary.js";
import { lowerStage, type StageProgram } from "../../../compiler/ir/stage.js";
import { testGpu } from "../../helpers/gpu.js";
import { expectClose } from "../../helpers/numeric.js";
import { randomBatch } from "./random-batch.js";

const examples = readdirSync("examples").filter((f) => f.endsWith(".acpo"));

/** Run `prog` on the GPU and compare everything with the interpreter. */
async function compare(prog: StageProgram, b: Batch, what: string): Promise<void> {
  const gpu = await testGpu();
  const sk = generateStage(prog);
  const runner = new StageRunner(gpu, sk);
  await runner.compile();
  const inp = uploadBatch(gpu, b);
  const out = runner.run(inp);
  const ref = interpretStage(prog, b);
  const N = b.B * b.T;
  const tok = await runner.readTokens(out, N);
  for (const c of TOK_COLUMNS) expectClose(tok[c], ref.tokens[c], 2e-6, 2e-5, `${what}: ${c}`);
  if (ref.dlogits) expectClose((await gpu.read(out.dlogits!)).subarray(0, N * b.V), ref.dlogits, 1e-7, 1e-4, `${what}: dlogits`);
  const s = await runner.readSummary(out);
  for (const f of SUMMARY_FIELDS) expectClose([s[f]], [ref.summary[f]], 2e-6, 2e-5, `${what}: summary.${f}`);
  const named = await runner.readNamed(out, { B: b.B, T: b.T, S: b.S, NG: b.nGroups });
  expect(named.map((x) => x.name).sort()).toEqual(ref.named.filter((x) => x.level !== "scalar").map((x) => x.name).sort());
  for (const x of named) {
    const r = ref.named.find((y) => y.name === x.name)!.values;
    // Unused step slots hold no step: their values are never read.
    const keep = (i: number) => x.level !== "step" || b.stepLength[i]! > 0;
    expectClose(x.values.filter((_, i) => keep(i)), r.filter((_, i) => keep(i)), 2e-6, 2e-5, `${what}: ${x.name}`);
  }
  expect(K_TOK).toBe(TOK_COLUMNS.length);
  runner.release(out);
  releaseInputs(gpu, inp);
}

describe("example pipelines: compiled kernels vs interpreter", () => {
  for (const file of examples) {
    it(file, async () => {
      const p = loadPipeline(`examples/${file}`).pipeline!;
      for (const stage of p.stages) {
        const prog = lowerStage(p, stage);
        // Irregular sizes: 3 groups interleaved over 15 responses, 11 slots, V = 37, up to 4 steps.
        const b = randomBatch({ groups: 3, perGroup: 5, T: 11, V: 37, S: 4 }, 3);
        // Masked vocabulary entries (-inf logits) contribute exactly 0.
        for (let n = 0; n < b.B * b.T; n++) if (n % 5 === 0) b.logits![n * b.V + ((b.ids[n]! + 1) % b.V)] = -Infinity;
        await compare(prog, b, `${file} ${stage.name}`);
      }
    });
  }

  it("without logits the policy loss head reads logp and H", async () => {
    const p = loadPipeline("examples/acpo.acpo").pipeline!;
    const prog = lowerStage(p, p.stages[1]!);
    await compare(prog, randomBatch({ groups: 2, perGroup: 4, T: 7, V: 5, S: 3, logits: false }, 9), "acpo converge, no logits");
  });

  it("a NaN logit poisons only its own row", async () => {
    const p = loadPipeline("examples/dapo.acpo").pipeline!;
    const prog = lowerStage(p, p.stages[0]!);
    const b = randomBatch({ groups: 2, perGroup: 3, T: 6, V: 9, S: 1 }, 4);
    let bad = 0;
    while (b.stepIdx[bad]! < 0) bad++;
    b.logits![bad * b.V + 2] = NaN;
    const gpu = await testGpu();
    const runner = new StageRunner(gpu, generateStage(prog));
    const inp = uploadBatch(gpu, b);
    const out = runner.run(inp);
    const tok = await runner.readTokens(out, b.B * b.T);
    const ref = interpretStage(prog, b);
    expect(Number.isNaN(tok.logp[bad]!)).toBe(true);
    expect(Number.isNaN(ref.tokens.logp[bad]!)).toBe(true);
    expect(tok.logp.filter((x) => Number.isNaN(x)).length).toBe(1);
    runner.release(out);
    releaseInputs(gpu, inp);
  });
});
