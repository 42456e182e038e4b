// `npm run bench [-- --only NAME[,NAME]] [--quick] [--list]`: runs benchmark suites and
// prints a table for each. Speed lives here, never in tests. Suites are listed in
// bench/suites/index.ts.
import { Gpu } from "../runtime/engine/gpu.js";
import { cpuSummary } from "./lib/cpu.js";
import { renderTable } from "./lib/table.js";
import type { BenchContext } from "./lib/types.js";
import { SUITES } from "./suites/index.js";

function parseArgs(argv: string[]): { only: string[] | null; quick: boolean; list: boolean } {
  let only: string[] | null = null;
  let quick = false, list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--only") only = (argv[++i] ?? "").split(",").filter(Boolean);
    else if (a.startsWith("--only=")) only = a.slice(7).split(",").filter(Boolean);
    else if (a === "--quick") quick = true;
    else if (a === "--list") list = true;
    else throw new Error(`unknown argument '${a}' (use --only NAME[,NAME], --quick, --list)`);
  }
  return { only, quick, list };
}

function adapterName(g: Gpu): string {
  return `${g.info.description || g.info.device} [${g.info.architecture}], backend ${g.info.backend}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of SUITES) console.log(`${s.name.padEnd(18)} ${s.description}`);
    return;
  }
  const unknown = (args.only ?? []).filter((n) => !SUITES.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown suite(s) ${unknown.join(", ")}; known: ${SUITES.map((s) => s.name).join(", ")}`);
  const suites = args.only ? SUITES.filter((s) => args.only!.includes(s.name)) : SUITES;

  let gpu = null as Promise<Gpu> | null;
  const ctx: BenchContext = {
    quick: args.quick,
    log: (msg) => process.stderr.write(`bench: ${msg}\n`),
    gpu: () => {
      // On a software adapter Gpu.create lowers the main thread's priority (see runtime/engine/gpu.ts).
      gpu ??= Gpu.create();
      return gpu;
    },
  };
  const load = (await import("node:os")).loadavg()[0]!;
  const cpu = cpuSummary();
  console.log(`acpo bench ${new Date().toISOString()}  load average ${load.toFixed(2)} (other processes skew the figures)`);
  console.log(`cpu: ${cpu}`);
  for (const s of suites) {
    ctx.log(`suite ${s.name}`);
    const tables = await s.run(ctx);
    // Every table says where it ran: figures move with the CPU and the adapter, and a pasted table loses its header.
    const adapter = gpu ? adapterName(await gpu) : "none (CPU only)";
    const where = `ran on: cpu ${cpu}; adapter ${adapter}; load average ${(await import("node:os")).loadavg()[0]!.toFixed(2)} at the end of the suite`;
    for (const t of tables) console.log(`\n${renderTable({ ...t, notes: [...(t.notes ?? []), where] })}`);
  }
  if (gpu) {
    const g = await gpu;
    console.log(`\nadapter: ${adapterName(g)}`);
    await g.destroy();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`bench: ${e.message}\n`);
    process.exit(1);
  },
);
