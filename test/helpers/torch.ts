// Debian's PyTorch as an independent implementation to compare against. The suite's global
// set-up (test/global-setup.ts) installs it before any test runs; a test never installs it.
// Where it is missing, tests fail with the command that provides it. The child environment
// is the benchmark's (bench/lib/torch.ts).
import { spawnSync } from "node:child_process";
import { TORCH_PYTHON, torchEnv } from "../../bench/lib/torch.js";

export function ensureTorch(): void {
  const r = spawnSync(TORCH_PYTHON, ["-c", "import torch"], { encoding: "utf8", env: torchEnv(), timeout: 120_000 });
  if (r.status !== 0) {
    throw new Error(`this test needs PyTorch for ${TORCH_PYTHON} ('import torch' failed: ${(r.stderr ?? r.error?.message ?? "").trim().split("\n").pop()}); install it with 'node scripts/setup-system.mjs torch' (as root on Debian; elsewhere install PyTorch for that interpreter)`);
  }
}

/** Run a Python script with the system interpreter and parse its JSON stdout. */
export function runTorchScript<T>(script: string, args: string[]): T {
  const r = spawnSync(TORCH_PYTHON, [script, ...args], { encoding: "utf8", env: torchEnv(), timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
