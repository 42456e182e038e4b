#!/usr/bin/env node
// Runs after `npm install`: makes sure Dawn finds a WebGPU adapter.
// 1. Probe for an adapter in a child process (a real GPU is always kept as it is).
// 2. None found, on Debian as root: install Mesa's software Vulkan driver (lavapipe).
//    Debian 12's own Mesa 22.3 is too old for Dawn, so on bookworm we add the
//    bookworm-backports source and install mesa-vulkan-drivers + libvulkan1 (Mesa 25) from it.
// 3. Anywhere else: fail with the fix. ACPO_SKIP_GPU_SETUP=1 skips all of this
//    (for machines that only compile .acpo files).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const log = (msg) => process.stdout.write(`acpo setup: ${msg}\n`);

if (process.env.ACPO_SKIP_GPU_SETUP === "1") {
  log("ACPO_SKIP_GPU_SETUP=1: skipping the WebGPU adapter check");
  process.exit(0);
}

const PROBE = `
import { create, globals } from "webgpu";
Object.assign(globalThis, globals);
const gpu = create([]);
const a = await gpu.requestAdapter();
if (!a) { console.log("NONE"); process.exit(0); }
console.log("OK " + a.info.description + " [" + a.info.architecture + "]");
`;

function probe() {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", PROBE], { encoding: "utf8", timeout: 60_000 });
  const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("OK ") || l === "NONE");
  return line?.startsWith("OK ") ? line.slice(3) : null;
}

const found = probe();
if (found) {
  log(`WebGPU adapter: ${found}`);
  process.exit(0);
}

const isDebian = existsSync("/etc/debian_version");
const isRoot = process.getuid?.() === 0;
const codename = isDebian ? (readFileSync("/etc/os-release", "utf8").match(/VERSION_CODENAME=(\w+)/)?.[1] ?? "") : "";

if (process.platform !== "linux" || !isDebian || !isRoot) {
  process.stderr.write(
    [
      "acpo setup: no WebGPU adapter found.",
      "  acpo runs on WebGPU via Dawn. Install your GPU's Vulkan/Metal/D3D12 driver, or on Linux",
      "  Mesa's software Vulkan driver lavapipe (Mesa >= 24), e.g. on Debian 12 as root:",
      "    echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list",
      "    apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1",
      "  then run 'npx acpo doctor'. Set ACPO_SKIP_GPU_SETUP=1 to install without a GPU check.",
      "",
    ].join("\n"),
  );
  process.exit(1);
}

log("no WebGPU adapter: installing Mesa's software Vulkan driver (lavapipe) with apt-get");
const run = (cmd, args) => {
  log(`$ ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
};
const installArgs = ["install", "-y", "--no-install-recommends"];
if (codename === "bookworm") {
  const source = "/etc/apt/sources.list.d/acpo-bookworm-backports.sources";
  const alreadyListed = spawnSync("sh", ["-c", "grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/"]).status === 0;
  if (!alreadyListed) {
    log(`adding ${source} (Mesa 25 lives in bookworm-backports; bookworm's Mesa 22.3 is too old for Dawn)`);
    writeFileSync(
      source,
      "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    );
  }
  installArgs.push("-t", "bookworm-backports");
}
try {
  // Other configured sources may be unreachable; the install below says whether what we need arrived.
  run("apt-get", ["update"]);
} catch {
  log("apt-get update reported errors (an unreachable source?); trying the install anyway");
}
run("apt-get", [...installArgs, "mesa-vulkan-drivers", "libvulkan1"]);

const after = probe();
if (!after) {
  process.stderr.write("acpo setup: installed Mesa's Vulkan driver but Dawn still finds no adapter. Run 'npx acpo doctor' for details.\n");
  process.exit(1);
}
log(`WebGPU adapter: ${after}`);
