// `acpo doctor`: which adapter, backend and driver acpo would use, the limits that matter,
// and a storage-buffer round trip that proves compute works. Exits 1 with the fix when
// no adapter is available.
import type { Command } from "commander";
import { Gpu } from "../../runtime/gpu.js";
import { residualForward } from "../../runtime/ops/residual.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("report the WebGPU adapter, backend, driver and limits, and test a compute dispatch")
    .option("--backend <name>", "Dawn backend: vulkan, metal, d3d12, opengl, ... (env ACPO_BACKEND)")
    .option("--adapter <name>", "adapter name as Dawn lists it (env ACPO_ADAPTER)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { backend?: string; adapter?: string; json?: boolean }) => {
      const gpu = await Gpu.create({ backend: opts.backend, adapter: opts.adapter });
      try {
        const roundTrip = await computeRoundTrip(gpu);
        const i = gpu.info;
        if (opts.json) {
          console.log(JSON.stringify({ ...i, computeRoundTrip: roundTrip }, null, 2));
        } else {
          console.log(`adapter:     ${i.device || "(unnamed)"} (${i.vendor}, ${i.architecture})`);
          console.log(`driver:      ${i.description}`);
          console.log(`backend:     ${i.backend}${i.isSoftware ? " (software rasteriser: expect CPU speed)" : ""}`);
          console.log(`subgroups:   ${i.subgroupSize[0]}..${i.subgroupSize[1]} lanes`);
          console.log(`features:    ${i.features.join(", ")}`);
          console.log("limits:");
          for (const [k, v] of Object.entries(i.limits)) console.log(`  ${k.padEnd(36)} ${v}`);
          console.log(`compute:     ${roundTrip ? "ok (storage-buffer round trip matches)" : "FAILED (wrong values)"}`);
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
