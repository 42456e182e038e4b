// Matmul GFLOP/s: square products and the transformer's shapes (linear forward x @ W^T,
// and the two backward products), for acpo's schedule, tfjs-backend-webgpu on the same
// adapter, and PyTorch on the CPU with every core (the ratio is against this one) and with
// one thread (an extra column), with our ratio to the CPU's peak.
import { type MatmulVariant, MATMUL_VARIANTS, matmul, matmulVariant } from "../../runtime/engine/ops/matmul.js";
import type { Gpu } from "../../runtime/engine/gpu.js";
import { cpuPeak, softwareAdapterCeiling } from "../lib/cpu.js";
import { ensureTorch } from "../lib/setup.js";
import { fmt, ratio, timeIt } from "../lib/timing.js";
import { tfjsOnDawn } from "../lib/tfjs.js";
import { torchMatmul, torchSetting, type TorchThreads } from "../lib/torch.js";
import type { BenchContext, Suite, Table } from "../lib/types.js";

export interface Shape {
  label: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

const sq = (n: number): Shape => ({ label: `${n}^3`, M: n, N: n, K: n, transA: false, transB: false });
export const MATMUL_SHAPES: Shape[] = [
  sq(256),
  sq(512),
  sq(1024),
  { label: "2048x256 @ (1024x256)^T  linear fwd", M: 2048, N: 1024, K: 256, transA: false, transB: true },
  { label: "2048x1024 @ (256x1024)^T linear fwd", M: 2048, N: 256, K: 1024, transA: false, transB: true },
  { label: "2048x1024 @ 1024x256     dx = dout W", M: 2048, N: 256, K: 1024, transA: false, transB: false },
  { label: "(2048x1024)^T @ 2048x256 dW = dout^T x", M: 1024, N: 256, K: 2048, transA: true, transB: false },
];

const layout = (s: Shape): string => `${s.transA ? "T" : "N"}${s.transB ? "T" : "N"}`;
const flops = (s: Shape): number => 2 * s.M * s.N * s.K;

/**
 * acpo's matmul for one shape and schedule: GFLOP/s of wall-clock time, and GFLOP per CPU
 * second of this process (every thread: lavapipe's workers are this process's threads), each the
 * median over repetitions. On a shared machine the wall figure measures the scheduler as much as
 * the kernel; the CPU figure changes far less (spec/speed.md, "The matmul on lavapipe").
 */
export async function acpoGflops(gpu: Gpu, s: Shape, variant: MatmulVariant, seconds: number): Promise<{ wall: number; cpu: number }> {
  const a = gpu.upload(randomData(s.M * s.K, 1));
  const b = gpu.upload(randomData(s.K * s.N, 2));
  const c = gpu.empty([s.M, s.N]);
  const cpuSeconds: number[] = [];
  const t = await timeIt(async () => {
    const c0 = process.cpuUsage();
    matmul(gpu, c, a, b, { M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, variant });
    await gpu.sync();
    const used = process.cpuUsage(c0);
    cpuSeconds.push((used.user + used.system) / 1e6);
  }, { minSeconds: seconds });
  gpu.release(a, b, c);
  const timed = cpuSeconds.slice(1).sort((x, y) => x - y); // the first call is timeIt's warm-up
  return { wall: flops(s) / t.median / 1e9, cpu: flops(s) / timed[Math.floor(timed.length / 2)]! / 1e9 };
}

function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x / 2 ** 31 - 1;
  }
  return out;
}

export const matmulSuite: Suite = {
  name: "matmul",
  description: "matmul GFLOP/s vs tfjs-backend-webgpu (same adapter), PyTorch CPU and the CPU's fp32 peak",
  async run(ctx: BenchContext): Promise<Table[]> {
    const gpu = await ctx.gpu();
    const seconds = ctx.quick ? 0.2 : 1.5;
    const variant = matmulVariant(gpu);
    const peak = cpuPeak();
    const ceiling = gpu.info.isSoftware ? softwareAdapterCeiling(peak) : null;
    const notes: string[] = [];

    ctx.log(`matmul: acpo (${variant})`);
    const ours: number[] = [];
    const oursCpu: number[] = [];
    for (const s of MATMUL_SHAPES) {
      const g = await acpoGflops(gpu, s, variant, seconds);
      ours.push(g.wall);
      oursCpu.push(g.cpu);
    }

    let tfjs: number[] = MATMUL_SHAPES.map(() => NaN);
    try {
      const h = await tfjsOnDawn(gpu);
      ctx.log(`matmul: tfjs-backend-webgpu on ${h.adapter}`);
      tfjs = [];
      for (const s of MATMUL_SHAPES) {
        const a = h.tf.randomUniform(s.transA ? [s.K, s.M] : [s.M, s.K]);
        const b = h.tf.randomUniform(s.transB ? [s.N, s.K] : [s.K, s.N]);
        const t = await timeIt(async () => {
          const c = h.tf.matMul(a, b, s.transA, s.transB);
          await h.sync();
          c.dispose();
        }, { minSeconds: seconds });
        a.dispose();
        b.dispose();
        tfjs.push(flops(s) / t.median / 1e9);
      }
      notes.push(`tfjs-backend-webgpu: same Dawn adapter (${h.adapter}), tf.matMul with transposeA/B, timed to queue completion`);
    } catch (e) {
      notes.push(`tfjs-backend-webgpu: skipped (${(e as Error).message})`);
    }

    const torch = { all: MATMUL_SHAPES.map(() => NaN), one: MATMUL_SHAPES.map(() => NaN) };
    const ready = ensureTorch(ctx.log);
    if (ready.ok) {
      for (const threads of ["all", 1] as TorchThreads[]) {
        ctx.log(`matmul: PyTorch CPU, ${threads === "all" ? "every core" : "one thread"} (child process)`);
        const r = torchMatmul(MATMUL_SHAPES.map((s) => ({ m: s.M, n: s.N, k: s.K, transA: s.transA, transB: s.transB })), seconds, threads);
        if (!r.ok) {
          notes.push(`PyTorch baseline (${threads === "all" ? "every core" : "one thread"}): skipped (${r.why})`);
          continue;
        }
        if (threads === "all") torch.all = r.gflops;
        else torch.one = r.gflops;
        if (threads === 1) {
          // One thread on one core: its best figure bounds the clock from below.
          const implied = Math.max(...r.gflops) / (peak.lanes * peak.fmaPipes * 2);
          if (implied > peak.ghz) notes.push(`one-thread PyTorch implies a clock of at least ${implied.toFixed(2)} GHz: the nominal clock understates the peak`);
        }
        notes.push(`PyTorch ${r.version} on the CPU, ${torchSetting(threads, r.blasThreads)}; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (child process only)`);
      }
    } else notes.push(`PyTorch baseline: skipped (${ready.why})`);

    notes.push(`acpo schedule: ${variant} (ACPO_MATMUL overrides); adapter ${gpu.info.device}`);
    notes.push(`CPU fp32 peak ${fmt(peak.gflops)} GFLOP/s = ${peak.cores} cores x ${peak.lanes} lanes x ${peak.fmaPipes} FMA pipes x 2 flops x ${peak.ghz.toFixed(2)} GHz (see the cpu-peak suite)`);
    if (ceiling) notes.push(`${ceiling.why}; 'acpo/ceiling' against it (issue 17's target: 50 %)`);
    notes.push("each figure: median wall-clock of (record + submit + wait) over repetitions after one warm-up run");
    notes.push("acpo /cpu-s: GFLOP per CPU-second of this process (all threads, lavapipe's workers included), median over the same repetitions: x cores is what the wall figure would be with every core to ourselves");
    const rows = MATMUL_SHAPES.map((s, i) => [
      s.label,
      layout(s),
      fmt(ours[i]!),
      fmt(oursCpu[i]!),
      fmt(tfjs[i]!),
      ratio(ours[i]!, tfjs[i]!),
      fmt(torch.all[i]!),
      ratio(ours[i]!, torch.all[i]!),
      fmt(torch.one[i]!),
      ratio(ours[i]!, Math.max(...[torch.all[i]!, torch.one[i]!].filter(Number.isFinite))),
      `${fmt((100 * ours[i]!) / peak.gflops)}%`,
      ceiling ? `${fmt((100 * ours[i]!) / ceiling.gflops)}%` : "n/a",
    ]);
    notes.push("acpo/torch: against PyTorch with every core; 'torch 1t' is one thread; 'acpo/best' against the faster of the two (on a loaded machine every-core PyTorch can lose to one thread)");
    return [{ title: "matmul GFLOP/s", columns: ["shape (M x K @ K x N)", "layout", "acpo", "acpo /cpu-s", "tfjs", "acpo/tfjs", "torch", "acpo/torch", "torch 1t", "acpo/best", "acpo/peak", "acpo/ceiling"], rows, notes }];
  },
};

export const matmulVariantsSuite: Suite = {
  name: "matmul-variants",
  description: "GFLOP/s of every matmul schedule (the per-adapter choice is made from these)",
  async run(ctx: BenchContext): Promise<Table[]> {
    const gpu = await ctx.gpu();
    const seconds = ctx.quick ? 0.2 : 1;
    const shapes = [sq(512), MATMUL_SHAPES[3]!, MATMUL_SHAPES[6]!];
    const rows: (string | number)[][] = [];
    for (const v of MATMUL_VARIANTS) {
      ctx.log(`matmul-variants: ${v}`);
      const row: (string | number)[] = [v];
      for (const s of shapes) {
        const g = await acpoGflops(gpu, s, v, seconds);
        row.push(`${fmt(g.wall)} / ${fmt(g.cpu)}`);
      }
      rows.push(row);
    }
    return [{
      title: "matmul schedules, GFLOP/s (wall) / GFLOP per CPU-second",
      columns: ["schedule", ...shapes.map((s) => `${s.label.split(" ")[0]} ${layout(s)}`)],
      rows,
      notes: [`default on this adapter: ${matmulVariant(gpu)}; 'register' uses 16-byte loads when the layout allows, else 'register-scalar'`],
    }];
  },
};
