// The CPU's theoretical fp32 peak and where each factor came from.
import { cpuPeak } from "../lib/cpu.js";
import { fmt } from "../lib/timing.js";
import type { Suite, Table } from "../lib/types.js";

export const cpuPeakSuite: Suite = {
  name: "cpu-peak",
  description: "theoretical fp32 peak: cores x vector lanes x FMA pipes x 2 x clock",
  async run(): Promise<Table[]> {
    const p = cpuPeak();
    return [{
      title: "CPU fp32 peak",
      columns: ["cpu", "cores", "lanes", "FMA pipes", "GHz", "peak GFLOP/s"],
      rows: [[p.model, p.cores, p.lanes, p.fmaPipes, p.ghz.toFixed(2), fmt(p.gflops)]],
      notes: p.sources,
    }];
  },
};
