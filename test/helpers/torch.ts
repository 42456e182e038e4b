// Debian's PyTorch as an independent implementation to compare against. Tests that need
// it install it on first use through the benchmark's installer (scripts/setup-bench.mjs:
// Debian, root), as the README's test command must work on a fresh machine; elsewhere they
// fail with what to install. The child environment is the benchmark's (bench/lib/torch.ts).
import { spawnSync } from "node:child_process";
import { TORCH_PYTHON, torchEnv } from "../../bench/lib/torch.js";

export function ensureTorch(): void {
  const r = spawnSync(process.execPath, ["scripts/setup-bench.mjs"], { encoding: "utf8", timeout: 1_800_000 });
  if (r.status !== 0) throw new Error(`this test needs PyTorch for ${TORCH_PYTHON}: ${(r.stderr ?? "").trim().split("\n").pop()}`);
}

/** Run a Python script with the system interpreter and parse its JSON stdout. */
export function runTorchScript<T>(script: string, args: string[]): T {
  const r = spawnSync(TORCH_PYTHON, [script, ...args], { encoding: "utf8", env: torchEnv(), timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
