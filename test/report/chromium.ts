// Headless Chromium for report tests: Debian's `chromium` package, installed on first use
// where the tests run as root on Debian (CI), else a failure that names the command.
// Driven by playwright-core, which brings no browser of its own.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
// An unreachable extra apt source must not stop the install: update, then install regardless.
const INSTALL = "apt-get update || true; apt-get install -y chromium";

/** Make sure /usr/bin/chromium exists, installing Debian's package when we may. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const debian = existsSync("/etc/debian_version");
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (!debian || !root) throw new Error(`report tests need Chromium at ${CHROMIUM}; install it with: ${INSTALL}${root ? "" : " (as root)"}`);
  execFileSync("bash", ["-c", INSTALL], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: 900_000 });
  if (!existsSync(CHROMIUM)) throw new Error(`'${INSTALL}' ran but ${CHROMIUM} is still missing`);
  return CHROMIUM;
}

// No network, no background services, nothing kept between runs.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface Headless {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh --user-data-dir (a persistent context is how playwright passes one). */
export async function launchChromium(): Promise<Headless> {
  const exe = ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), "acpo-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: exe, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 } });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser };
