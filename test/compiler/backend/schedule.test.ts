// Schedules change who does the work, never the result: two lane counts give bit-identical
// loss, gradient, token columns and statistics (reductions fold into SLOTS fixed slots).
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../../compiler/index.js";
import { generateStage } from "../../../compiler/codegen/index.js";
import { StageRunner } from "../../../compiler/codegen/runner.js";
import { checkSchedule, type Schedule } from "../../../compiler/codegen/schedule.js";
import { releaseInputs, uploadBatch } from "../../../compiler/codegen/upload.js";
import { lowerStage } from "../../../compiler/ir/stage.js";
import { testGpu } from "../../helpers/gpu.js";
import { randomBatch } from "./random-batch.js";

async function runWith(file: string, schedule: Schedule): Promise<Float32Array[]> {
  const gpu = await testGpu();
  const p = loadPipeline(file).pipeline!;
  const prog = lowerStage(p, p.stages[p.stages.length - 1]!);
  const runner = new StageRunner(gpu, generateStage(prog, schedule));
  // V larger than SLOTS so every slot folds several logits.
  const b = randomBatch({ groups: 3, perGroup: 4, T: 9, V: 300, S: 3 }, 21);
  const inp = uploadBatch(gpu, b);
  const out = runner.run(inp);
  const res = [await gpu.read(out.dlogits!), await gpu.read(out.tok), await gpu.read(out.stats), await gpu.read(out.summary)];
  runner.release(out);
  releaseInputs(gpu, inp);
  return res;
}

describe("schedules", () => {
  // acpo: group/sequence reductions and a quantile; gspo: prepass and sequence ratio; entropy_top20: batch quantile of H.
  for (const file of ["examples/acpo.acpo", "examples/gspo.acpo", "examples/entropy_top20.acpo"]) {
    it(`${file}: 16 and 128 lanes give identical bits`, async () => {
      const a = await runWith(file, { lanes: 16, elementwise: 32 });
      const b = await runWith(file, { lanes: 128, elementwise: 256 });
      a.forEach((x, i) => expect(Buffer.from(x.buffer).equals(Buffer.from(b[i]!.buffer)), `output ${i}`).toBe(true));
    });
  }

  it("rejects lane counts the slot tree cannot use", () => {
    expect(() => checkSchedule({ lanes: 48, elementwise: 64 })).toThrow(/power of two/);
    expect(() => checkSchedule({ lanes: 256, elementwise: 64 })).toThrow(/power of two/);
  });
});
