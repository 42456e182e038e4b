// Experiment sections (sweep tables and per-cell mean curves) as a user sees them in
// Chromium: placed above the per-run curves, the table's cells as written, a drawn chart
// per spec, and no script errors.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRuns } from "../../runtime/loop/report/load.js";
import { type ReportSection, writeSectionReport } from "../../runtime/loop/report/sections.js";
import { cellCurves } from "../../runtime/loop/report/sweep-curves.js";
import { type Headless, launchChromium } from "./chromium.js";
import { writeSyntheticComparison } from "./synthetic-runs.js";

interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
}
interface ElLike {
  id: string;
  textContent: string;
  tagName: string;
  querySelector(sel: string): CanvasLike | null;
}
declare const document: { querySelectorAll(sel: string): ArrayLike<ElLike>; querySelector(sel: string): ElLike | null };

let root: string;
let browser: Headless;
const problems: string[] = [];
let section: ReportSection;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "acpo-sections-"));
  const dirs = writeSyntheticComparison(root);
  const runs = loadRuns(dirs);
  section = {
    id: "sweep",
    title: "Sweep: cells over seeds",
    note: "a note",
    tables: [{ header: ["cell", "Acc@8 % (mean ± sd)"], rows: [["alpha=0", "12.5 ± 1.0"], ["alpha=1", "14.0 ± 2.0"]], note: "under the table" }],
    charts: cellCurves([{ cell: "alpha=0", runs: runs.slice(0, 2).map((run, i) => ({ seed: i, run })) }, { cell: "alpha=1", runs: runs.slice(2).map((run, i) => ({ seed: i, run })) }]),
  };
  writeSectionReport(dirs, join(root, "report.html"), "sections", [section]);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("report sections in Chromium", () => {
  it("draws the section's table and mean curves above the per-run curves, without errors", async () => {
    const p = await browser.context.newPage();
    p.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
    p.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    await p.goto(`file://${join(root, "report.html")}`);
    await p.waitForSelector(`#${section.charts[0]!.id.replace(/[@.]/g, "\\$&")} canvas`);
    expect(problems).toEqual([]);
    const order = await p.evaluate(() => Array.from(document.querySelectorAll("h2")).map((h) => h.id || h.textContent));
    expect(order.indexOf("sweep")).toBeGreaterThanOrEqual(0);
    expect(order.indexOf("sweep")).toBeLessThan(order.indexOf("curves"));
    const cells = await p.evaluate(() => Array.from(document.querySelectorAll("#sweep ~ table.data td")).slice(0, 4).map((td) => td.textContent));
    expect(cells).toEqual(["alpha=0", "12.5 ± 1.0", "alpha=1", "14.0 ± 2.0"]);
    expect(section.charts.length).toBeGreaterThan(0);
    // Every chart drew something: some canvas pixel is not transparent.
    const drawn = await p.evaluate((ids: string[]) => ids.map((id) => {
      const c = Array.from(document.querySelectorAll(".chart")).find((e) => e.id === id)?.querySelector("canvas");
      if (!c) return false;
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) return true;
      return false;
    }), section.charts.map((c) => c.id));
    expect(drawn).toEqual(section.charts.map(() => true));
  }, 120_000);
});
