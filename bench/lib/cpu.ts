// The CPU's theoretical fp32 peak: cores x vector lanes x FMA pipes x 2 flops x clock.
// Each factor says where it came from: cores and clock are read from lscpu and
// /proc/cpuinfo; vector width from the ISA flags; FMA pipes per core are not exposed by
// the OS, so they come from a small table of microarchitectures (vendor + family).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface CpuPeak {
  model: string;
  cores: number;
  lanes: number;
  fmaPipes: number;
  ghz: number;
  gflops: number;
  /** How each factor was obtained. */
  sources: string[];
}

function lscpu(): Record<string, string> {
  try {
    const out = execFileSync("lscpu", { encoding: "utf8" });
    return Object.fromEntries(out.split("\n").map((l) => l.split(/:\s+/, 2) as [string, string]).filter((kv) => kv.length === 2));
  } catch {
    return {};
  }
}

export function cpuPeak(): CpuPeak {
  const info = lscpu();
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const field = (name: string): string | undefined => cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1];
  const sources: string[] = [];
  const model = info["Model name"] ?? field("model name") ?? "unknown";

  const perSocket = Number(info["Core(s) per socket"]);
  const sockets = Number(info["Socket(s)"] ?? 1);
  const cores = perSocket > 0 ? perSocket * sockets : Number(info["CPU(s)"]) || 1;
  sources.push(perSocket > 0 ? `cores ${cores}: lscpu 'Core(s) per socket' ${perSocket} x 'Socket(s)' ${sockets} (SMT threads not counted)` : `cores ${cores}: lscpu 'CPU(s)'`);

  const maxMhz = Number(info["CPU max MHz"]);
  const cpuMhz = Number(field("cpu MHz"));
  const mhz = maxMhz > 0 ? maxMhz : cpuMhz;
  sources.push(maxMhz > 0 ? `clock ${(mhz / 1000).toFixed(2)} GHz: lscpu 'CPU max MHz'` : `clock ${(mhz / 1000).toFixed(2)} GHz: /proc/cpuinfo 'cpu MHz' (lscpu gives no max; under a hypervisor this is the nominal clock, turbo may be higher)`);

  const flags = new Set((field("flags") ?? "").split(/\s+/));
  const vendor = field("vendor_id") ?? "";
  const family = Number(field("cpu family"));
  const modelNo = Number(field("model"));
  // Datapath width: AMD Zen 4 runs AVX-512 on 256-bit units (two halves), so its throughput is that of 8 lanes x 2 pipes.
  const zen4 = vendor === "AuthenticAMD" && family === 25 && modelNo >= 0x10;
  const lanes = flags.has("avx512f") && !zen4 ? 16 : flags.has("avx") ? 8 : 4;
  if (zen4 && flags.has("avx512f")) sources.push("vector 8 fp32 lanes: /proc/cpuinfo flags have avx512f, but AMD family 25 model >= 0x10 (Zen 4) executes 512-bit ops as two 256-bit halves");
  else sources.push(`vector ${lanes} fp32 lanes: /proc/cpuinfo flags (${lanes === 16 ? "avx512f" : lanes === 8 ? "avx" : "sse"})`);

  // FMA pipes per core by microarchitecture (vendor optimisation manuals).
  let fmaPipes = 2;
  let why = "2 FMA pipes: the usual count for x86 cores since Haswell / Zen (table default)";
  if (vendor === "AuthenticAMD" && family >= 23) why = `2 FMA pipes: AMD family ${family} (Zen ${family === 23 ? "1/2" : family === 25 ? "3/4" : "5"}) has two FMA-capable FP pipes (AMD optimisation guide)`;
  else if (vendor === "GenuineIntel" && lanes === 16) why = "2 FMA pipes: assumed for an AVX-512 Intel server core (some parts have one)";
  if (!flags.has("fma")) {
    fmaPipes = 1;
    why = "no fma flag: counted as 1 pipe of separate multiply + add";
  }
  sources.push(why);
  const ghz = mhz / 1000;
  const gflops = cores * lanes * fmaPipes * 2 * ghz;
  return { model, cores, lanes, fmaPipes, ghz, gflops, sources };
}

/**
 * The fp32 ceiling of a software adapter on this CPU. llvmpipe (Mesa 25) runs compute shaders
 * on 256-bit vectors of 8 fp32 lanes even where the CPU has AVX-512 (spec/speed.md, "The
 * matmul on lavapipe"), so its ceiling counts at most 8 lanes: issue 17's matmul target is 50 %
 * of this figure, not of the CPU's own peak (twice as high on a 512-bit datapath).
 */
export function softwareAdapterCeiling(p: CpuPeak): { lanes: number; gflops: number; why: string } {
  const lanes = Math.min(p.lanes, 8);
  const gflops = p.cores * lanes * p.fmaPipes * 2 * p.ghz;
  const why = `software adapter (llvmpipe) ceiling ${gflops.toFixed(1)} GFLOP/s = ${p.cores} cores x ${lanes} lanes (its 256-bit vectors${p.lanes > 8 ? `, not the CPU's ${p.lanes}` : ""}) x ${p.fmaPipes} FMA pipes x 2 flops x ${p.ghz.toFixed(2)} GHz`;
  return { lanes, gflops, why };
}

/** The vector ISA flags that decide the software adapter's speed, from /proc/cpuinfo. */
export function cpuIsa(): { avx2: boolean; avx512f: boolean; fma: boolean } {
  let flags = new Set<string>();
  try {
    flags = new Set((readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:\s*(.*)$/m)?.[1] ?? "").split(/\s+/));
  } catch {
    // Not Linux: the flags stay unknown (all false) and the summary says so.
  }
  return { avx2: flags.has("avx2"), avx512f: flags.has("avx512f"), fma: flags.has("fma") };
}

/** One line naming the CPU, e.g. "AMD EPYC, 2 cores, avx2 fma, no avx512f". */
export function cpuSummary(): string {
  const p = cpuPeak();
  const isa = cpuIsa();
  const have = (Object.keys(isa) as (keyof typeof isa)[]).filter((k) => isa[k]);
  const lack = (Object.keys(isa) as (keyof typeof isa)[]).filter((k) => !isa[k]);
  return `${p.model}, ${p.cores} cores, ${have.join(" ") || "no avx2/avx512f/fma"}${lack.length && have.length ? `, no ${lack.join(" ")}` : ""}`;
}
