// Where one quickstart RL step's work goes, phase by phase: dispatches, submits, readbacks,
// bytes read back and pipelines created (counts, which a loaded machine does not change),
// and CPU seconds — the whole process's (process.cpuUsage: Node's main thread, Dawn's and
// lavapipe's worker threads) and the main thread's alone (/proc/self/task/<pid>/schedstat:
// JS, command recording and submission; the rest is mostly lavapipe running the kernels).
// The trainer itself runs examples/acpo.acpo (its eval removed) for two steps with a
// PhaseProbe (runtime/loop/rl/phase-probe.ts) that waits for the GPU at every phase's end,
// so each phase is charged its own GPU work; the table is the second step (the first
// compiles). The waits add one submit and one readback-free sync per phase (counted).
//   npx tsx bench/suites/step-profile.ts [--json]    (or: npm run bench -- --only dispatch)
import { mkdtempSync, readFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Gpu } from "../../runtime/engine/gpu.js";
import { type PhaseProbe, STEP_PHASES, type StepPhase } from "../../runtime/loop/rl/phase-probe.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import { withoutEval } from "../lib/rl-step.js";
import { fmt } from "../lib/timing.js";
import type { Table } from "../lib/types.js";

const QUICKSTART = "examples/acpo.acpo";

/** What the machine and the GPU context have done so far; differences give a phase's share. */
interface Snapshot {
  dispatches: number;
  submits: number;
  readbacks: number;
  bytesRead: number;
  pipelines: number;
  /** CPU seconds of every thread of the process. */
  cpu: number;
  /** CPU seconds of the main thread. */
  main: number;
  /** Of `main`, the part spent before the phase's closing wait: JS and command recording. */
  record: number;
}

export type PhaseCost = Snapshot;

/** CPU seconds the main thread has run: schedstat's first field, in nanoseconds. */
function mainThreadSeconds(): number {
  const f = readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ");
  return Number(f[0]) / 1e9;
}

function snapshot(gpu: Gpu): Snapshot {
  const u = process.cpuUsage();
  const main = mainThreadSeconds();
  return { ...gpu.stats, ...gpu.volume, cpu: (u.user + u.system) / 1e6, main, record: main };
}

function minus(a: Snapshot, b: Snapshot): Snapshot {
  return {
    dispatches: a.dispatches - b.dispatches, submits: a.submits - b.submits, readbacks: a.readbacks - b.readbacks,
    bytesRead: a.bytesRead - b.bytesRead, pipelines: a.pipelines - b.pipelines, cpu: a.cpu - b.cpu, main: a.main - b.main, record: a.record - b.record,
  };
}

/** A probe that waits for the GPU at each phase's end and keeps each step's phase costs. */
class Profiler implements PhaseProbe {
  readonly steps: Map<StepPhase, Snapshot>[] = [];
  private last: Snapshot;
  constructor(private readonly gpu: Gpu) {
    this.last = snapshot(gpu);
  }
  async at(phase: StepPhase): Promise<void> {
    const recorded = mainThreadSeconds();
    await this.gpu.sync();
    const now = { ...snapshot(this.gpu), record: recorded };
    if (phase === "between steps") this.steps.push(new Map());
    const step = this.steps[this.steps.length - 1];
    if (!step) throw new Error(`step profile: phase '${phase}' before any step began`);
    const prev = step.get(phase);
    const d = minus(now, this.last);
    step.set(phase, prev ? sumCosts(prev, d) : d); // minibatches and epochs add up
    this.last = { ...now, record: now.main };
  }
}

function sumCosts(a: Snapshot, b: Snapshot): Snapshot {
  return minus(a, minus({ dispatches: 0, submits: 0, readbacks: 0, bytesRead: 0, pipelines: 0, cpu: 0, main: 0, record: 0 }, b));
}

/** Phase costs of the quickstart's second step (the trainer, seed 0, eval removed). */
export async function profileQuickstartStep(gpu: Gpu, log: (m: string) => void = () => {}): Promise<{ phases: Map<StepPhase, PhaseCost>; responseTokens: number; metrics: Record<string, unknown>[] }> {
  const out = join(mkdtempSync(join(tmpdir(), "acpo-step-profile-")), "run");
  const probe = new Profiler(gpu);
  log(`step-profile: two steps of ${QUICKSTART}`);
  const r = await train({ pipelinePath: resolve(QUICKSTART), pipelineText: withoutEval(readFileSync(resolve(QUICKSTART), "utf8")), steps: 2, outDir: out, quiet: true, gpu, checkpointEvery: 1000, probe });
  const second = probe.steps[1];
  if (!second) throw new Error("step profile: the run did not reach its second step");
  // Every step's metrics without the wall-clock fields: what a change that only saves time must leave as it was.
  const metrics = readFileSync(join(r.runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => {
    const m = JSON.parse(l) as Record<string, unknown>;
    for (const k of Object.keys(m)) if (k.startsWith("time_") || k.endsWith("_per_s")) delete m[k];
    return m;
  });
  return { phases: second, responseTokens: r.lastMetrics?.response_length_mean ?? NaN, metrics };
}

export function profileTable(phases: Map<StepPhase, PhaseCost>, responseTokens: number): Table {
  const total = [...phases.values()].reduce(sumCosts);
  const row = (name: string, c: PhaseCost): (string | number)[] => [
    name, c.dispatches, c.submits, c.readbacks, fmt(c.bytesRead / 1024, 1), c.pipelines, fmt(c.cpu, 3), fmt(c.main, 3), fmt(c.record, 3), fmt(c.cpu - c.main, 3),
  ];
  const rows = STEP_PHASES.filter((p) => phases.has(p)).map((p) => row(p, phases.get(p)!));
  rows.push(row("whole step", total));
  return {
    title: "quickstart step by phase: counts and CPU seconds",
    columns: ["phase", "dispatches", "submits", "readbacks", "KiB read", "pipelines", "CPU s (all threads)", "main thread s", "of which before the wait", "other threads s"],
    rows,
    notes: [
      `${QUICKSTART} without its eval, trainer seed 0: the second of two steps; mean response ${fmt(responseTokens, 1)} tokens`,
      "each phase ends with a wait for the GPU (the probe's), so its GPU work is in its row; the waits add one submit each",
      `load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`,
    ],
  };
}

async function main(): Promise<void> {
  const gpu = await Gpu.create();
  try {
    const { phases, responseTokens, metrics } = await profileQuickstartStep(gpu, (m) => process.stderr.write(`${m}\n`));
    if (process.argv.includes("--json")) {
      process.stdout.write(`${JSON.stringify({ load: loadavg(), responseTokens, phases: Object.fromEntries(phases), metrics })}\n`);
      return;
    }
    const t = profileTable(phases, responseTokens);
    process.stdout.write(`${t.columns.join(" | ")}\n${t.rows.map((r) => r.join(" | ")).join("\n")}\n${t.notes!.join("\n")}\n`);
  } finally {
    await gpu.destroy();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
