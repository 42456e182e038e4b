// `acpo doctor`: which adapter, backend and driver acpo would use, the limits that matter,
// and a storage-buffer round trip that proves compute works; with --model (and --pipeline)
// the memory plan against the adapter's limits (cli/memory-plan.ts), exit 1 when it cannot fit. Exits 1 with the fix when
// no adapter is available.
import type { Command } from "commander";
import { Gpu } from "../../runtime/engine/gpu.js";
import { join } from "node:path";
import { readConfig } from "../../runtime/engine/model/config.js";
import { residualForward } from "../../runtime/engine/ops/residual.js";
import { matmulScheduleReport } from "../../runtime/engine/ops/matmul.js";
import { loadPipelineOrFail } from "../load.js";
import { defaultShape, planOn, planText, runShape } from "../memory-plan.js";
import { parsePositiveIntOption } from "../options.js";
import { parsePrecisionOption } from "../precision-option.js";
import type { Precision } from "../../runtime/engine/model/weights.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("report the WebGPU adapter, backend, driver and limits, and test a compute dispatch")
    .option("--backend <name>", "Dawn backend: vulkan, metal, d3d12, opengl, ... (env ACPO_BACKEND)")
    .option("--adapter <name>", "adapter name as Dawn lists it (env ACPO_ADAPTER)")
    .option("--json", "print the report as JSON")
    .option("--model <dir>", "also print the memory plan of this model folder against the adapter's limits")
    .option("--pipeline <file>", "size the plan for this pipeline's rollout and minibatches (its model unless --model)")
    .option("--prompt-tokens <n>", "prompt length the plan assumes (default 64)", parsePositiveIntOption, 64)
    .option("--precision <f32|f16>", "size the plan for this weight precision (default: the pipeline's, else f32)", parsePrecisionOption)
    .action(async (opts: { backend?: string; adapter?: string; json?: boolean; model?: string; pipeline?: string; promptTokens: number; precision?: Precision }) => {
      // Read the model and pipeline first: a bad path is an error before any device work.
      const pipeline = opts.pipeline ? loadPipelineOrFail(opts.pipeline, [], "no memory plan") : null;
      const modelDir = opts.model ?? pipeline?.model.path;
      const config = modelDir ? readConfig(join(modelDir, "config.json")) : null;
      const gpu = await Gpu.create({ backend: opts.backend, adapter: opts.adapter });
      try {
        const roundTrip = await computeRoundTrip(gpu);
        const i = gpu.info;
        const base = config ? (pipeline ? runShape(pipeline, opts.promptTokens) : defaultShape(config)) : null;
        const shape = base && opts.precision ? { ...base, precision: opts.precision } : base;
        const plan = config && shape ? planOn(gpu, config, shape) : null;
        if (plan && plan.problems.length > 0) process.exitCode = 1;
        if (opts.json) {
          console.log(JSON.stringify({ ...i, computeRoundTrip: roundTrip, matmulSchedules: matmulScheduleReport(gpu), ...(plan ? { memoryPlan: { shape, ...plan } } : {}) }, null, 2));
        } else {
          console.log(`adapter:     ${i.device || "(unnamed)"} (${i.vendor}, ${i.architecture})`);
          console.log(`driver:      ${i.description}`);
          console.log(`backend:     ${i.backend}${i.isSoftware ? " (software rasteriser: expect CPU speed)" : ""}`);
          console.log(`subgroups:   ${i.subgroupSize[0]}..${i.subgroupSize[1]} lanes`);
          console.log(`features:    ${i.features.join(", ")}`);
          console.log("limits:");
          for (const [k, v] of Object.entries(i.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
          console.log(`compute:     ${roundTrip ? "ok (storage-buffer round trip matches)" : "FAILED (wrong values)"}`);
          for (const line of scheduleLines(matmulScheduleReport(gpu))) console.log(line);
          if (plan && shape && config) {
            const what = pipeline ? `${modelDir} for ${opts.pipeline} (prompts of ${opts.promptTokens} tokens)` : `${modelDir}`;
            console.log(`\n${planText(gpu, config, shape, plan, what)}`);
          }
        }
        if (!roundTrip) process.exitCode = 1;
      } finally {
        await gpu.destroy();
      }
    });
}

/** Add two irregular-length vectors on the GPU and compare with the CPU. */
async function computeRoundTrip(gpu: Gpu): Promise<boolean> {
  const n = 1037;
  const a = Float32Array.from({ length: n }, (_, i) => i * 0.5);
  const b = Float32Array.from({ length: n }, (_, i) => 1 - i);
  const out = gpu.empty([n], "doctor_out");
  residualForward(gpu, out, gpu.upload(a), gpu.upload(b));
  const got = await gpu.read(out);
  return got.every((v, i) => v === Math.fround(a[i]! + b[i]!));
}

/** The matmul schedule choice for this adapter: the override, or the tuned table from the cache. */
export function scheduleLines(r: ReturnType<typeof matmulScheduleReport>): string[] {
  if (r.override) return [`matmul:      ACPO_MATMUL=${r.override} chooses every schedule`];
  if (!r.autotune) return [`matmul:      schedule ${r.default} (autotuning off: ACPO_AUTOTUNE=0)`];
  const classes = Object.entries(r.tuned);
  if (classes.length === 0) return [`matmul:      no shape class timed yet on this adapter (training times them after its first step; cache ${r.cache}); default ${r.default}`];
  const lines = [`matmul:      schedules timed on this adapter for ${classes.length} shape class(es) (cache ${r.cache}); otherwise ${r.default}`];
  const width = Math.max(...classes.map(([c]) => c.length));
  for (const [cls, e] of classes) {
    const times = Object.entries(e.ms).map(([v, ms]) => `${v} ${Number.isFinite(ms) ? ms.toFixed(2) : "-"}`).join(", ");
    lines.push(`  ${cls.padEnd(width)}  ${e.variant.padEnd(16)} ms per call on ${e.timedOn}: ${times}`);
  }
  return lines;
}
