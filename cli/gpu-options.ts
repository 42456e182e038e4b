// The --backend / --adapter options every GPU command takes, and running a command body
// with a device that is always torn down (so the process exits cleanly).
import type { Command } from "commander";
import { Gpu } from "../runtime/engine/gpu.js";

export interface GpuFlags {
  backend?: string;
  adapter?: string;
}

export function withGpu(cmd: Command): Command {
  return cmd
    .option("--backend <name>", "Dawn backend: vulkan, metal, d3d12, opengl, ... (env ACPO_BACKEND)")
    .option("--adapter <name>", "adapter name as Dawn lists it (env ACPO_ADAPTER)");
}

withGpu.run = async function run<T>(flags: GpuFlags, body: (gpu: Gpu) => Promise<T>): Promise<T> {
  const gpu = await Gpu.create({ backend: flags.backend, adapter: flags.adapter });
  try {
    return await body(gpu);
  } finally {
    await gpu.destroy().catch(() => undefined); // the body's error matters more than teardown's
  }
};
