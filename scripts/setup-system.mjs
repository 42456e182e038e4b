#!/usr/bin/env node
// Installs the Debian packages that the test suite and the benchmark use beside Node:
//   torch     python3-torch + libopenblas0-pthread  (PyTorch baselines and oracles)
//   chromium  chromium                              (the report's browser tests)
// Usage: node scripts/setup-system.mjs [torch] [chromium]   (no argument: both)
//
// Runs serially and once: test/global-setup.ts calls it before any test file starts, and
// bench/lib/setup.ts before the benchmark; no test calls apt itself. Only on Debian and as
// root; anything already installed is left alone (a second run installs nothing). apt
// waits up to LOCK_WAIT_S for a dpkg lock another process holds, and we retry after a lock
// error, then give up with a message that names the command to run by hand.
// Mesa's Vulkan driver is not here: `postinstall` (scripts/setup-webgpu.mjs) installs it.
// Exit 0 when every requested component works afterwards, 1 (the reason on stderr) when not.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const TORCH_PYTHON = "/usr/bin/python3";
const CHROMIUM = "/usr/bin/chromium";
const LOCK_WAIT_S = 600;
const ATTEMPTS = 3;

const COMPONENTS = {
  torch: { packages: ["python3-torch", "libopenblas0-pthread"], works: torchWorks, what: "PyTorch (CPU) for the PyTorch baselines and oracles" },
  chromium: { packages: ["chromium"], works: () => existsSync(CHROMIUM), what: "headless Chromium for the report's browser tests" },
};

const log = (msg) => process.stderr.write(`acpo setup-system: ${msg}\n`);

function torchWorks() {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: "1" };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return spawnSync(TORCH_PYTHON, ["-c", "import torch"], { env, timeout: 120_000 }).status === 0;
}

function installed(pkg) {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.stdout?.includes("install ok installed") === true;
}

/** apt-get with a lock wait; returns { status, lockError }. Output goes to our stderr. */
function aptGet(args) {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const full = ["-o", `DPkg::Lock::Timeout=${LOCK_WAIT_S}`, ...args];
  log(`$ apt-get ${full.join(" ")}`);
  const r = spawnSync("apt-get", full, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  process.stderr.write(r.stdout ?? "");
  process.stderr.write(r.stderr ?? "");
  return { status: r.status, lockError: /Could not get lock|Unable to acquire the dpkg|is another process using it/i.test(r.stderr ?? "") };
}

function installPackages(packages) {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const r = aptGet(["install", "-y", "--no-install-recommends", ...packages]);
    if (r.status === 0) return true;
    if (r.lockError) {
      log(`the dpkg lock is still held by another process after ${LOCK_WAIT_S} s (attempt ${attempt}/${ATTEMPTS})`);
      continue;
    }
    // Stale package lists on a fresh machine: refresh once (an unreachable extra source must
    // not stop us; the install says whether what we need arrived), then try again.
    log("apt-get install failed; refreshing the package lists and trying again");
    aptGet(["update"]);
  }
  return false;
}

function setupSystem(names) {
  const wanted = names.length > 0 ? names : Object.keys(COMPONENTS);
  for (const n of wanted) if (!(n in COMPONENTS)) throw new Error(`unknown component '${n}' (known: ${Object.keys(COMPONENTS).join(", ")})`);
  const missing = wanted.filter((n) => !COMPONENTS[n].works() || COMPONENTS[n].packages.some((p) => !installed(p)));
  if (missing.length === 0) return { ok: true, installed: [] };
  const packages = missing.flatMap((n) => COMPONENTS[n].packages).filter((p) => !installed(p));
  const manual = `apt-get install -y ${packages.join(" ")}`;
  if (!existsSync("/etc/debian_version")) return { ok: false, why: `${missing.join(", ")} missing and this is not Debian; install ${missing.map((n) => COMPONENTS[n].what).join(" and ")} yourself` };
  if (process.getuid?.() !== 0) return { ok: false, why: `${missing.join(", ")} missing; as root run: ${manual}` };
  for (const n of missing) log(`installing ${COMPONENTS[n].packages.join(" ")}: ${COMPONENTS[n].what}`);
  const ok = packages.length === 0 || installPackages(packages);
  const broken = missing.filter((n) => !COMPONENTS[n].works());
  if (!ok || broken.length > 0) return { ok: false, why: `could not provide ${broken.join(", ") || missing.join(", ")}; run as root: apt-get update && ${manual}` };
  return { ok: true, installed: packages };
}

let result;
try {
  result = setupSystem(process.argv.slice(2));
} catch (e) {
  result = { ok: false, why: e.message };
}
if (!result.ok) {
  log(result.why);
  process.exit(1);
}
if (result.installed.length > 0) log(`installed ${result.installed.join(" ")}`);
