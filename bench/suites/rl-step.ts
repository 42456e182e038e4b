// Seconds per training step of the quickstart configuration (examples/acpo.acpo on the
// embedded policy), split into rollout, verification, segmentation + attribution and
// update, from the loop's own metrics. Target (issue 6): segmentation and attribution
// together at most 15 % of a step.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { train } from "../../runtime/rl/trainer.js";
import type { StepMetrics } from "../../runtime/rl/types.js";
import { fmt } from "../lib/timing.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

export const rlStepSuite: Suite = {
  name: "rl-step",
  description: "seconds per ACPO training step of the quickstart configuration, by phase",
  async run(ctx: BenchContext): Promise<Table[]> {
    const gpu = await ctx.gpu();
    const steps = ctx.quick ? 3 : 8;
    const out = join(mkdtempSync(join(tmpdir(), "acpo-bench-rl-")), "run");
    // The quickstart pipeline without its evaluations (they are not part of a step).
    const src = readFileSync(resolve("examples/acpo.acpo"), "utf8").replace(/\n\s*eval \{[^}]*\}/, "\n");
    ctx.log(`rl-step: ${steps} steps of examples/acpo.acpo`);
    await train({ pipelinePath: resolve("examples/acpo.acpo"), pipelineText: src, steps: steps + 1, outDir: out, quiet: true, gpu, checkpointEvery: 1000 });
    // Step 1 includes compiling the stage kernels; report the steps after it.
    const ms = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics).slice(1);
    const mean = (k: keyof StepMetrics) => ms.reduce((s, m) => s + (m[k] as number), 0) / ms.length;
    const total = mean("time_step_s");
    const rows = ([
      ["rollout (sampling 128 responses)", "time_rollout_s"],
      ["verification", "time_verify_s"],
      ["segmentation + attribution", "time_segment_attribution_s"],
      ["update (old/ref logp, forward, loss kernels, backward, AdamW)", "time_update_s"],
      ["whole step", "time_step_s"],
    ] as const).map(([what, k]) => [what, fmt(mean(k), 3), `${fmt((100 * mean(k)) / total, 1)} %`]);
    return [{
      title: "ACPO training step (quickstart configuration)",
      columns: ["phase", "seconds", "share"],
      rows,
      notes: [
        `mean over steps 2..${steps + 1} of one run (step 1 compiles the stage kernels); rollout: prompts 16 x group 8, up to 96 tokens`,
        `response tokens per second over the step: ${fmt(mean("tokens_per_s"), 0)}; target: segmentation + attribution <= 15 % of a step`,
      ],
    }];
  },
};
