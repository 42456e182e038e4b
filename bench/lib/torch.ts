// PyTorch on the CPU as a baseline, measured in a child process (bench/torch_*.py, and
// scripts/torch_grpo_reference.py for the RL step). Every ratio is taken against PyTorch at
// full strength: torch.set_num_threads(every core) and OpenBLAS unpinned (it then uses every
// core too). The one-thread figure (OPENBLAS_NUM_THREADS=1, one intra-op thread) is kept as
// an extra column. Debian's OpenBLAS build runs far below its speed unless
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset, for that process only.
import { spawnSync } from "node:child_process";
import { availableParallelism, getPriority } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const TORCH_PYTHON = "/usr/bin/python3";

// The bench's priority before Gpu.create lowers the main thread's to 19 for a software
// adapter (runtime/engine/gpu.ts): the baseline runs at the priority acpo's worker threads keep,
// not below it, or a loaded machine would starve PyTorch more than acpo.
const START_NICE = getPriority();

/** argv that runs `args` under TORCH_PYTHON at the bench's starting priority (`nice` warns and runs anyway if not permitted). */
export function torchCommand(args: string[]): [string, string[]] {
  const delta = START_NICE - getPriority();
  return delta === 0 ? [TORCH_PYTHON, args] : ["nice", ["-n", String(delta), TORCH_PYTHON, ...args]];
}
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "torch_matmul.py");

/** How many threads PyTorch may use: "all" (every core the process may run on) or one. */
export type TorchThreads = "all" | 1;

/** The thread count behind a TorchThreads setting. */
export function torchThreadCount(threads: TorchThreads): number {
  return threads === "all" ? availableParallelism() : 1;
}

export interface TorchShape {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

/** `threads`: torch's intra-op threads; `blasThreads`: what OpenBLAS reports (openblas_get_num_threads), or null. */
export type TorchResult = { ok: true; gflops: number[]; threads: number; blasThreads: number | null; version: string } | { ok: false; why: string };

/** The child's environment: OpenBLAS fixes removed; pinned to one BLAS thread only for the one-thread column. */
export function torchEnv(threads: TorchThreads = "all"): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  delete env.OPENBLAS_NUM_THREADS;
  delete env.OMP_NUM_THREADS;
  if (threads === 1) env.OPENBLAS_NUM_THREADS = "1";
  return env;
}

/** How a torch figure was obtained, for a table's notes. */
export function torchSetting(threads: TorchThreads, blasThreads: number | null): string {
  const n = torchThreadCount(threads);
  const blas = blasThreads === null ? "" : `, OpenBLAS ${blasThreads} thread(s)`;
  return threads === "all" ? `torch.set_num_threads(${n}) (every core)${blas}, OPENBLAS_NUM_THREADS unset` : `one thread: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1${blas}`;
}

/**
 * Runs a baseline script and parses its last stdout line as JSON. With `flags` the script
 * gets those flags and `--threads N`; without, one JSON argument (`args` with threads added).
 */
export function runTorchJson(script: string, args: Record<string, unknown>, threads: TorchThreads, timeoutMs = 1_200_000, flags?: string[]): { ok: true; out: Record<string, unknown> } | { ok: false; why: string } {
  const n = torchThreadCount(threads);
  const argv = flags ? [script, ...flags, "--threads", String(n)] : [script, JSON.stringify({ ...args, threads: n })];
  const [cmd, cmdArgs] = torchCommand(argv);
  const r = spawnSync(cmd, cmdArgs, { env: torchEnv(threads), encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return parseChild(r);
}

/** The last stdout line of a finished child as JSON, or why there is none. */
export function parseChild(r: ReturnType<typeof spawnSync>): { ok: true; out: Record<string, unknown> } | { ok: false; why: string } {
  if (r.error) return { ok: false, why: `${TORCH_PYTHON}: ${r.error.message}` };
  const stdout = String(r.stdout ?? ""), stderr = String(r.stderr ?? "");
  if (r.status !== 0) return { ok: false, why: (stderr || stdout).trim().split("\n").pop() ?? `exit ${r.status}` };
  try {
    return { ok: true, out: JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown> };
  } catch {
    return { ok: false, why: `unexpected output: ${stdout.slice(0, 200)}` };
  }
}

export function torchMatmul(shapes: TorchShape[], seconds: number, threads: TorchThreads): TorchResult {
  const r = runTorchJson(SCRIPT, { shapes, seconds }, threads, 600_000);
  if (!r.ok) return r;
  const o = r.out as { gflops: number[]; threads: number; blas_threads: number | null; version: string };
  return { ok: true, gflops: o.gflops, threads: o.threads, blasThreads: o.blas_threads, version: o.version };
}
