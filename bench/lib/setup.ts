// Makes sure the PyTorch baseline can run: if `import torch` works it does; otherwise
// scripts/setup-system.mjs checks, and on Debian as root installs python3-torch and
// libopenblas0-pthread. Runs once per bench process.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { torchCommand, torchEnv } from "./torch.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "setup-system.mjs");
let result: { ok: true } | { ok: false; why: string } | null = null;

/**
 * `import torch` in the baseline's environment, with a generous timeout: on a loaded machine
 * at the bench's low priority the import alone can take minutes, and setup-system's shorter
 * check then reads a slow import as a missing package.
 */
function torchImports(): boolean {
  const [cmd, args] = torchCommand(["-c", "import torch"]);
  return spawnSync(cmd, args, { env: torchEnv(1), timeout: 900_000 }).status === 0;
}

export function ensureTorch(log: (msg: string) => void): { ok: true } | { ok: false; why: string } {
  if (result) return result;
  log("checking the PyTorch baseline (import torch)");
  if (torchImports()) return (result = { ok: true });
  log("import torch failed: scripts/setup-system.mjs torch");
  const r = spawnSync(process.execPath, [SCRIPT, "torch"], { encoding: "utf8", stdio: ["ignore", "inherit", "pipe"], timeout: 1_800_000 });
  const lines = (r.stderr ?? "").trim().split("\n").filter(Boolean);
  for (const l of lines) log(l);
  result = r.status === 0 ? { ok: true } : { ok: false, why: lines.pop()?.replace(/^acpo setup-system: /, "") ?? `setup-system exited ${r.status}` };
  return result;
}
