// Runs once, before any test file: installs the Debian packages the suite uses beside Node
// (PyTorch for the oracles, Chromium for the report's browser tests) through
// scripts/setup-system.mjs, serially, so that no test installs anything and no two installs race
// for the package manager's lock. When a package cannot be provided, the suite still runs and the tests
// that need it fail with the command that fixes it (test/helpers/torch.ts, chromium.ts).
import { spawnSync } from "node:child_process";

export default function setup(): void {
  const r = spawnSync(process.execPath, ["scripts/setup-system.mjs"], { stdio: ["ignore", "inherit", "inherit"], timeout: 3_600_000 });
  if (r.status !== 0) process.stderr.write("acpo setup-system: continuing; the tests that need the missing component will fail and say how to install it\n");
}
