// PyTorch on the CPU as a baseline, measured in a child process (bench/torch_matmul.py).
// Debian's OpenBLAS build needs OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset and one
// BLAS thread, for that process only; otherwise it runs about 10x slower than it can.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const TORCH_PYTHON = "/usr/bin/python3";
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "torch_matmul.py");

export interface TorchShape {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

export type TorchResult = { ok: true; gflops: number[]; threads: number; version: string } | { ok: false; why: string };

export function torchEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: "1" };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

export function torchMatmul(shapes: TorchShape[], seconds: number): TorchResult {
  const r = spawnSync(TORCH_PYTHON, [SCRIPT, JSON.stringify({ shapes, seconds })], { env: torchEnv(), encoding: "utf8", timeout: 600_000 });
  if (r.error) return { ok: false, why: `${TORCH_PYTHON}: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: (r.stderr || r.stdout).trim().split("\n").pop() ?? `exit ${r.status}` };
  try {
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    return { ok: true, gflops: out.gflops, threads: out.threads, version: out.version };
  } catch {
    return { ok: false, why: `unexpected output: ${r.stdout.slice(0, 200)}` };
  }
}
