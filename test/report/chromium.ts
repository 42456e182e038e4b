// Headless Chromium for report tests: Debian's `chromium` package, which the suite's global
// set-up (test/global-setup.ts) installs before any test runs; a test never calls apt.
// Driven by playwright-core, which brings no browser of its own.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** /usr/bin/chromium, or a failure that names the command that provides it. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  throw new Error(`report tests need Chromium at ${CHROMIUM}; install it with 'node scripts/setup-system.mjs chromium' (as root on Debian; elsewhere install Chromium there)`);
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
