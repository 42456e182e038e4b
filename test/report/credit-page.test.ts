// The credit view as a user sees it: `acpo report --credit-vs`'s page for the hand-made
// ACPO run (test/report/credit-run.ts) against a variant with alpha 5, opened in headless
// Chromium. The per-step table shows the credits of ACPO's formula and their difference,
// the steps where the signs disagree are highlighted, and each token's background is the
// diverging colour of its credit on the scale both columns share.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { type ReportData, writeCreditReport } from "../../runtime/loop/report/html.js";
import { type Headless, launchChromium } from "./chromium.js";
import { EXAMPLE_ALPHA, creditOf, writeCreditRun, writeVariant } from "./credit-run.js";

// Browser globals inside evaluate callbacks (the project compiles without the DOM lib).
interface El {
  className: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelectorAll(sel: string): ArrayLike<El>;
}
declare function getComputedStyle(el: unknown): { backgroundColor: string };

let root: string;
let browser: Headless;
let page: Page;
let data: ReportData;
const problems: string[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "acpo-credit-page-"));
  const run = writeCreditRun(root);
  const file = writeVariant(root, "acpo_a5", "acpo.acpo", "param alpha = 5");
  const other = loadPipeline(file);
  if (!other.pipeline) throw new Error(`${file} does not check`);
  data = await writeCreditReport([run], join(root, "credit.html"), { pipeline: other.pipeline, source: file });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(`file://${join(root, "credit.html")}`);
  await page.waitForSelector("body[data-rendered]");
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** The page's diverging scale, written out: white at 0 towards red (< 0) or blue (> 0), saturating at `scale`. */
function expectedColor(v: number, scale: number): string {
  const t = Math.max(-1, Math.min(1, v / scale));
  const end = t >= 0 ? [33, 102, 172] : [178, 24, 43];
  return `rgb(${end.map((c) => Math.round(255 + (c - 255) * Math.abs(t))).join(", ")})`;
}

describe("credit view in Chromium", () => {
  it("shows both pipelines' step credits, their difference, and highlights opposite signs", async () => {
    expect(await page.textContent("h2#credit")).toBe("Credit: acpo vs acpo_a5");
    expect(await page.$$eval("nav a", (as) => as.map((a) => a.textContent))).toEqual(["Curves", "Trajectories", "Credit", "Configuration"]);
    expect(await page.$$eval("#credit-step option", (os) => os.map((o) => o.getAttribute("value")))).toEqual(["5", "10"]);
    const samples = page.locator("#credit-list .credit-sample");
    expect(await samples.count()).toBe(4);
    // First response (reward 1 in a group of 1 and 0): alpha 5 turns step 1's credit negative.
    const rows = await samples.first().locator("table.credit-steps tr[data-step]").evaluateAll((trs: El[]) =>
      trs.map((tr) => ({ cls: tr.className, cells: Array.from(tr.querySelectorAll("td")).map((td) => td.textContent), values: Array.from(tr.querySelectorAll("td[data-value]")).map((td) => Number(td.getAttribute("data-value"))) })),
    );
    expect(rows.map((r) => r.cells)).toEqual([
      ["S1", "0–10", "+0.7", "-2", "-2.7"],
      ["S2", "11–22", "+1.16", "+2.59", "+1.43"],
      ["S3", "23–32", "+1", "+1", "0"],
    ]);
    const [a, b] = [creditOf(0, EXAMPLE_ALPHA), creditOf(0, 5)];
    rows.forEach((r, k) => {
      expect(r.values[0]).toBeCloseTo(a[k]!, 12);
      expect(r.values[1]).toBeCloseTo(b[k]!, 12);
      expect(r.values[2]).toBeCloseTo(b[k]! - a[k]!, 12);
    });
    expect(rows.map((r) => r.cls.includes("sign-differs"))).toEqual([true, false, false]);
    expect(await samples.first().locator(".credit-cols tr.sign-differs").getAttribute("data-step")).toBe("0");
    expect(await samples.first().locator(".traj-head").textContent()).toContain("1 step with opposite signs");
    expect(problems).toEqual([]);
  });

  it("colours each token by its credit on one diverging scale for both columns", async () => {
    const scale = data.credit!.scale;
    const cells = await page.locator("#credit-list .credit-sample").first().locator(".credit-cols tr.step-row").evaluateAll((trs: El[]) =>
      trs.map((tr) => Array.from(tr.querySelectorAll("td.tokens")).map((td) => Array.from(td.querySelectorAll(".ctok")).map((s) => ({ credit: Number(s.getAttribute("data-credit")), bg: getComputedStyle(s).backgroundColor })))),
    );
    const want = [creditOf(0, EXAMPLE_ALPHA), creditOf(0, 5)];
    expect(cells.length).toBe(3);
    cells.forEach((sides, k) =>
      sides.forEach((toks, side) => {
        expect(toks.length).toBeGreaterThan(0);
        for (const t of toks) {
          expect(t.credit).toBeCloseTo(want[side]![k]!, 12);
          expect(t.bg).toBe(expectedColor(want[side]![k]!, scale));
        }
      }),
    );
    // The signs read off the colours: step 1 blue on the left, red on the right.
    expect(cells[0]![0]![0]!.bg).toMatch(/^rgb\((\d+), (\d+), (\d+)\)$/);
    const [r0, , b0] = cells[0]![0]![0]!.bg.match(/\d+/g)!.map(Number);
    const [r1, , b1] = cells[0]![1]![0]!.bg.match(/\d+/g)!.map(Number);
    expect(b0! > r0! && r1! > b1!).toBe(true);
  });

  it("filters to responses with a sign disagreement and follows the step selector", async () => {
    await page.selectOption("#credit-filter", "differ");
    expect(await page.locator("#credit-list .credit-sample").count()).toBe(2); // the group with rewards 1 and 0
    // At step 10 alpha only scales the credits (no step's sign turns): nothing to show.
    await page.selectOption("#credit-step", "10");
    expect(await page.locator("#credit-list .credit-sample").count()).toBe(0);
    expect(await page.textContent("#credit-list")).toBe("No responses match.");
    await page.selectOption("#credit-filter", "all");
    const heads = await page.locator("#credit-list .traj-head").allTextContents();
    expect(heads.map((h) => h.slice(0, 16))).toEqual(["group 0reward 0✗", "group 0reward 1✓"]);
    expect(await page.locator("#credit-list .sign-differs").count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
