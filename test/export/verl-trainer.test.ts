// The driver-side step of the ACPO trainer subclass (export/verl/python/acpo_step.py: decoded
// pieces and entropies -> segmentation -> attribution -> the IR layout -> the generated
// advantage), run without verl, against acpo's own loop on the same responses: the
// TypeScript segmentation, attribution (attributeStepsExplicit with the golden judge),
// trajectoryBatch and the float64 interpreter.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { interpretStage } from "../../compiler/interpret/stage.js";
import { lowerStage } from "../../compiler/ir/stage.js";
import { planExport, writeExport } from "../../export/verl/index.js";
import { attributeStepsExplicit } from "../../runtime/loop/rl/attribution.js";
import { segmentRules } from "../../runtime/loop/rl/rollout.js";
import { segmentResponse } from "../../runtime/loop/rl/segment.js";
import type { Trajectory } from "../../runtime/loop/rl/types.js";
import { trajectoryBatch } from "../../runtime/loop/rl/until.js";
import { Rng } from "../../runtime/engine/tasks/rng.js";
import { entropiesFor, hashJudge, logSoftmaxTable, randomResponse, VOCAB } from "../../scripts/golden-export.js";
import { expectClose } from "../helpers/numeric.js";
import { ensureTorch, runTorchScript } from "../helpers/torch.js";

const RUNNER = fileURLToPath(new URL("./acpo_step_runner.py", import.meta.url));

describe("ACPO trainer step without verl", () => {
  it("acpo_no_kl: segmentation, C and the advantage per token equal acpo's loop", async () => {
    ensureTorch();
    const p = loadPipeline("examples/acpo_no_kl.acpo").pipeline!;
    const plan = planExport(p);
    expect(plan.usesTrainer).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "acpo-verl-"));
    writeExport(plan, dir);
    const rng = new Rng(1607);
    const table = logSoftmaxTable(rng, VOCAB.length);
    const rules = segmentRules(p.segment)!;
    const trajs: Trajectory[] = [];
    for (let g = 0; g < 3; g++) {
      for (let k = 0; k < 4; k++) {
        const responseIds = randomResponse(rng);
        const pieces = responseIds.map((id) => VOCAB[id]!);
        // Hot marker tokens so the entropy rule finds boundaries.
        const entropies = entropiesFor(rng, pieces.length).map((h, i) => (Number.isFinite(h) ? h : 0.5) + (/Then|So|Thus|First/.test(pieces[i]!) ? 5 : 0));
        const reward = rng.next() < 0.5 ? 1 : 0;
        trajs.push({
          problem: { id: `p${g}`, split: "train", prompt: "" }, group: 10 + g, promptIds: [g + 1, 2], responseIds, oldLogp: responseIds.map(() => -1), entropies,
          text: pieces.join(""), verdict: { reward, correct: reward === 1, answer: null, reason: "" }, segmentation: segmentResponse(pieces, entropies, rules), C: [],
        });
      }
    }
    const C = await attributeStepsExplicit(hashJudge(table, []), trajs, p.attribution!.measure);
    trajs.forEach((t, i) => (t.C = C[i]!));
    const { batch } = trajectoryBatch(trajs, { steps: 0, totalSteps: 0 });
    const want = interpretStage(lowerStage(p, p.stages[0]!), batch).tokens.advantage;
    const rows = trajs.map((t) => ({ prompt_ids: t.promptIds, response_ids: t.responseIds, pieces: t.responseIds.map((id) => VOCAB[id]!), entropy: t.entropies, reward: t.verdict.reward, uid: `uid-${t.group}` }));
    const job = join(dir, "rows.json");
    writeFileSync(job, JSON.stringify({ dir, pkg: plan.pkg, table, rows }));
    const got = runTorchScript<{ advantages: number[][]; C: number[][]; boundaries: (number[] | null)[] }>(RUNNER, [job]);
    expect(got.boundaries).toEqual(trajs.map((t) => t.segmentation!.boundaries));
    expect(C.flat().filter((v) => v !== 0).length).toBeGreaterThan(3);
    got.C.forEach((c, i) => expectClose(c, C[i]!, 1e-12, 1e-12, `C of response ${i}`));
    trajs.forEach((t, i) => {
      const w = Array.from(want.subarray(i * batch.T, i * batch.T + t.responseIds.length));
      expectClose(got.advantages[i]!, w, 1e-9, 1e-9, `advantage of response ${i}`);
    });
    expect(new Set(want).size).toBeGreaterThan(3); // the advantage varies within responses (steps), not only between them
  });
});
