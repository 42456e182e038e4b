// Screenshot of an `acpo report` for the README:
//   npx tsx scripts/screenshot-report.ts RUN_DIR... -o docs/report.png [--width 1400] [--height 1500] [--full]
// Writes the report to a temporary file, opens it in headless Chromium (Debian's package,
// installed when missing and running as root) and saves the top of the page (or all of it
// with --full) as PNG.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeReport } from "../runtime/loop/report/html.js";
import { launchChromium } from "../test/report/chromium.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: "string", short: "o", default: "docs/report.png" }, width: { type: "string", default: "1400" }, height: { type: "string", default: "1500" }, full: { type: "boolean", default: false }, title: { type: "string" } },
});
if (positionals.length === 0) {
  process.stderr.write("usage: npx tsx scripts/screenshot-report.ts RUN_DIR... -o docs/report.png [--width 1400] [--height 1500] [--full] [--title TEXT]\n");
  process.exit(2);
}
const width = Number(values.width);
const height = Number(values.height);
const tmp = mkdtempSync(join(tmpdir(), "acpo-shot-"));
const html = join(tmp, "report.html");
const browser = await launchChromium();
try {
  writeReport(positionals, html, values.title);
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.setViewportSize({ width, height });
  await page.goto(`file://${html}`);
  await page.waitForSelector("body[data-rendered]");
  if (errors.length) throw new Error(`the report logged errors:\n${errors.join("\n")}`);
  await page.screenshot({ path: resolve(values.out!), fullPage: values.full });
  process.stdout.write(`screenshot: ${resolve(values.out!)} (${width}x${values.full ? "full page" : height})\n`);
} finally {
  await browser.close();
  rmSync(tmp, { recursive: true, force: true });
}
