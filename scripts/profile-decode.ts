// Where the time of one rollout's decoding goes: `npx tsx scripts/profile-decode.ts
// [--model DIR] [--prompts 16] [--group 8] [--tokens 96] [--reps 3]`. Runs the quickstart
// rollout's generate() (countdown prompts, temperature 1) and prints, per decoded token,
// the dispatches, submits and readbacks (waits) the Gpu counted, and the wall time split
// into CPU time spent recording/submitting and time spent awaiting the GPU. A measurement
// tool, not a test: figures depend on the machine and its load (printed with them).
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Gpu } from "../runtime/engine/gpu.js";
import { promptIds } from "../runtime/loop/eval/evaluate.js";
import { generate } from "../runtime/engine/model/generate.js";
import { Policy } from "../runtime/engine/model/policy.js";
import { CountdownTask } from "../runtime/engine/tasks/countdown.js";

interface Args { model: string; prompts: number; group: number; tokens: number; reps: number; kernels: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { model: "models/countdown-tiny", prompts: 16, group: 8, tokens: 96, reps: 3, kernels: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!.replace(/^--/, ""), v = argv[i + 1];
    if (!(k in a) || v === undefined) throw new Error(`unknown or incomplete argument '${argv[i]}' (use --model DIR --prompts N --group N --tokens N --reps N --kernels N)`);
    (a as unknown as Record<string, string | number>)[k] = k === "model" ? v : Number(v);
  }
  return a;
}

/** CPU milliseconds of the main thread (recording, JS) and of the others (lavapipe's workers), from Linux /proc. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = Number(tid) === process.pid ? "main" : "other threads";
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / 100); // utime + stime, in 1/100 s
    }
  } catch {
    // Not Linux: no per-thread split.
  }
  return out;
}

function threadDelta(a: Map<string, number>, b: Map<string, number>): string {
  return [...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ");
}

/** Wrap the Gpu's waiting points so their time is counted apart from recording. */
function instrument(gpu: Gpu): { waitMs: () => number; waits: () => number } {
  let wait = 0, waits = 0;
  const q = gpu.device.queue;
  const done = q.onSubmittedWorkDone.bind(q);
  q.onSubmittedWorkDone = async () => { const t = performance.now(); waits++; await done(); wait += performance.now() - t; };
  const proto = GPUBuffer.prototype as unknown as { mapAsync: (...a: unknown[]) => Promise<void> };
  const map = proto.mapAsync;
  proto.mapAsync = async function (this: GPUBuffer, ...a: unknown[]) { const t = performance.now(); await map.apply(this, a); wait += performance.now() - t; };
  return { waitMs: () => wait, waits: () => waits };
}

/**
 * --kernels N: record the dispatches of one decode step (the second generated token), then
 * replay each N times in one submit and report the mean time per dispatch: which kernels
 * the step's GPU time goes to.
 */
async function perKernel(gpu: Gpu, policy: Policy, task: CountdownTask, a: Args): Promise<void> {
  type Call = Parameters<Gpu["dispatch"]>;
  const calls: Call[] = [];
  const dispatch = gpu.dispatch.bind(gpu);
  let capture = false, seen = 0;
  gpu.dispatch = (...c: Call) => { if (capture) calls.push(c); dispatch(...c); };
  const rows = task.problems("train", a.prompts, 0).flatMap((p) => Array.from({ length: a.group }, () => promptIds(policy, p.prompt)));
  // The first step (prefill) dispatches differ; capture the calls of exactly one later step.
  const flush = gpu.flush.bind(gpu);
  gpu.flush = () => flush();
  const copy = gpu.copy.bind(gpu);
  gpu.copy = (...c: Parameters<Gpu["copy"]>) => { if (c[0].label === "current ids") { seen++; capture = seen === 1; } copy(...c); };
  await generate(policy, rows, { maxNewTokens: 3, temperature: 1, seed: 0, stopIds: [] });
  gpu.dispatch = dispatch;
  gpu.copy = copy;
  // Wall time per dispatch, and the CPU time of the threads other than the main one (the
  // adapter's workers on lavapipe): the work itself, less skewed by other processes' load.
  const byName = new Map<string, { wall: number; work: number }>();
  let total = 0, totalWork = 0;
  for (const c of calls) {
    await gpu.sync();
    const t0 = performance.now(), th0 = threadCpu();
    for (let i = 0; i < a.kernels; i++) dispatch(...c);
    await gpu.sync();
    const ms = (performance.now() - t0) / a.kernels, work = ((threadCpu().get("other threads") ?? 0) - (th0.get("other threads") ?? 0)) / a.kernels;
    const key = `${c[0].name} [${c[3].join("x")}]`;
    const e = byName.get(key) ?? { wall: 0, work: 0 };
    byName.set(key, { wall: e.wall + ms, work: e.work + work });
    total += ms;
    totalWork += work;
  }
  console.log(`one decode step: ${calls.length} dispatches, replayed one kernel at a time (${a.kernels} each): ${total.toFixed(2)} ms wall, ${totalWork.toFixed(2)} ms CPU in the adapter's threads; load ${loadavg()[0]!.toFixed(2)}`);
  for (const [name, v] of [...byName].sort((x, y) => y[1].work - x[1].work)) console.log(`  ${name.padEnd(44)} ${v.wall.toFixed(3)} ms wall  ${v.work.toFixed(3)} ms adapter CPU`);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const gpu = await Gpu.create();
  const policy = Policy.load(gpu, a.model);
  const task = new CountdownTask({ numbers: [3, 3], values: [1, 9], target: [1, 30] });
  const probe = instrument(gpu);
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${a.prompts} x ${a.group} rows, up to ${a.tokens} tokens; adapter ${gpu.info.description}`);
  for (let rep = 0; rep <= a.reps; rep++) {
    const problems = task.problems("train", a.prompts, rep);
    const rows = problems.flatMap((p) => Array.from({ length: a.group }, () => promptIds(policy, p.prompt)));
    await gpu.sync();
    const s0 = { ...gpu.stats }, w0 = probe.waitMs(), n0 = probe.waits();
    const t0 = performance.now(), c0 = process.cpuUsage(), th0 = threadCpu();
    const g = await generate(policy, rows, { maxNewTokens: a.tokens, temperature: 1, seed: rep, stopIds: undefined });
    const ms = performance.now() - t0, cpu = process.cpuUsage(c0);
    const steps = Math.max(...g.tokens.map((t) => t.length));
    const d = (k: keyof typeof s0) => gpu.stats[k] - s0[k];
    const per = (n: number) => (n / steps).toFixed(2);
    const wait = probe.waitMs() - w0;
    console.log(
      `${rep === 0 ? "warm-up" : `rep ${rep}`}: ${ms.toFixed(0)} ms for ${steps} decode steps (${(ms / steps).toFixed(2)} ms/step); ` +
        `per step: dispatches ${per(d("dispatches"))}, submits ${per(d("submits"))}, readbacks ${per(d("readbacks"))}, queue waits ${per(probe.waits() - n0)}; ` +
        `awaiting GPU ${wait.toFixed(0)} ms, CPU elsewhere ${(ms - wait).toFixed(0)} ms; ` +
        `process CPU time (all threads, lavapipe's included: steadier than wall time under load) ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms; load ${loadavg()[0]!.toFixed(2)}`,
    );
    console.log(`  CPU ms by thread: ${threadDelta(th0, threadCpu())}`);
  }
  if (a.kernels > 0) await perKernel(gpu, policy, task, a);
  policy.release();
  await gpu.destroy();
}

main().then(
  () => process.exit(0),
  (e: Error) => { process.stderr.write(`profile-decode: ${e.message}\n`); process.exit(1); },
);
