// Debian's PyTorch as an independent implementation to compare against. Tests that need
// it install it (Debian, root) on first use, as the README's test command must work on a
// fresh machine; elsewhere they fail with the command to run.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const SYSTEM_PYTHON = "/usr/bin/python3";

/** Environment for a torch child process: one OpenBLAS thread, no CPU-type overrides. */
export function torchEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: "1" };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

export function ensureTorch(): void {
  const probe = () => spawnSync(SYSTEM_PYTHON, ["-c", "import torch"], { env: torchEnv() }).status === 0;
  if (existsSync(SYSTEM_PYTHON) && probe()) return;
  if (!existsSync("/etc/debian_version") || process.getuid?.() !== 0) {
    throw new Error("this test needs PyTorch for /usr/bin/python3: apt-get install python3-torch libopenblas0-pthread");
  }
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "python3-torch", "libopenblas0-pthread"], {
    stdio: "ignore",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (!probe()) throw new Error("installed python3-torch but 'import torch' still fails");
}

/** Run a Python script with the system interpreter and parse its JSON stdout. */
export function runTorchScript<T>(script: string, args: string[]): T {
  const r = spawnSync(SYSTEM_PYTHON, [script, ...args], { encoding: "utf8", env: torchEnv(), timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
