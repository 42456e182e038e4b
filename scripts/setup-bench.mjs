#!/usr/bin/env node
// Installs what `npm run bench` needs for its PyTorch baseline: Debian's python3-torch and
// the pthread OpenBLAS it runs fastest with. Only on Debian, only as root, only when
// `/usr/bin/python3 -c "import torch"` fails; says what it does. Exit 0 when torch is
// usable afterwards, 1 (with the reason on stderr) when it is not.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const PY = "/usr/bin/python3";
const PACKAGES = ["python3-torch", "libopenblas0-pthread"];
const log = (msg) => process.stderr.write(`setup-bench: ${msg}\n`);

function torchWorks() {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: "1" };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(PY, ["-c", "import torch; print(torch.__version__)"], { env, encoding: "utf8", timeout: 120_000 });
  return r.status === 0;
}

function missingPackages() {
  return PACKAGES.filter((p) => spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" }).stdout?.includes("install ok installed") !== true);
}

if (torchWorks() && missingPackages().length === 0) process.exit(0);
if (!existsSync("/etc/debian_version")) {
  log(`PyTorch is not importable by ${PY} and this is not Debian; install PyTorch for ${PY} yourself`);
  process.exit(1);
}
if (process.getuid?.() !== 0) {
  log(`needs root to run: apt-get install -y ${PACKAGES.join(" ")}`);
  process.exit(1);
}
const missing = missingPackages();
log(`installing ${missing.join(" ")} with apt-get (Debian's PyTorch CPU build and its OpenBLAS), for the benchmark's PyTorch baseline`);
const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
let r = spawnSync("apt-get", ["install", "-y", ...PACKAGES], { stdio: ["ignore", "inherit", "inherit"], env });
if (r.status !== 0) {
  log("apt-get install failed; refreshing the package lists (apt-get update) and retrying");
  spawnSync("apt-get", ["update"], { stdio: ["ignore", "inherit", "inherit"], env });
  r = spawnSync("apt-get", ["install", "-y", ...PACKAGES], { stdio: ["ignore", "inherit", "inherit"], env });
}
if (r.status !== 0 || !torchWorks()) {
  log(`could not make 'import torch' work for ${PY}`);
  process.exit(1);
}
log("PyTorch installed");
