// The report as a user sees it: written for three synthetic runs (and for a run whose
// model folder is missing), opened in headless Chromium from disk. Checks that every
// chart drew on its canvas, that legends name every run, that the page logged no errors
// and fetched nothing but the file itself, and that the viewer and config table work.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ReportData, renderReport, reportData, writeReport } from "../../runtime/loop/report/html.js";
import { type Headless, launchChromium } from "./chromium.js";
import { writeSyntheticComparison, writeSyntheticRun, writeTokenizerFolder } from "./synthetic-runs.js";

// Browser globals inside page.evaluate callbacks (the project compiles without the DOM lib).
interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
}
interface CardLike {
  id: string;
  querySelector(sel: string): CanvasLike | null;
}
declare const document: { querySelectorAll(sel: string): ArrayLike<CardLike> };
declare function getComputedStyle(el: unknown): { backgroundColor: string };

let root: string;
let browser: Headless;
let data: ReportData;
let page: Page;
const problems: string[] = [];
const requests: string[] = [];

async function open(file: string): Promise<Page> {
  const p = await browser.context.newPage();
  p.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  p.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  p.on("request", (r) => requests.push(r.url()));
  await p.goto(`file://${file}`);
  await p.waitForSelector("body[data-rendered]");
  return p;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "acpo-report-"));
  const dirs = writeSyntheticComparison(root);
  data = writeReport(dirs, join(root, "report.html"));
  browser = await launchChromium();
  page = await open(join(root, "report.html"));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("acpo report in Chromium", () => {
  it("logs no errors and loads nothing but the file", () => {
    expect(problems).toEqual([]);
    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) expect(url.startsWith("file://") || url.startsWith("data:"), url).toBe(true);
  });

  it("draws every chart: a non-blank canvas per metric, evaluation curves included", async () => {
    expect(data.charts.map((c) => c.id)).toEqual(expect.arrayContaining(["eval-test-acc@8", "eval-test-pass@8", "metric-reward_mean", "metric-entropy_mean", "metric-kl", "metric-clip_low_fraction", "metric-attribution_mean", "metric-grad_norm", "metric-time_step_s"]));
    const drawn = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".chart")).map((card) => {
        const canvas = card.querySelector("canvas");
        if (!canvas || canvas.width === 0 || canvas.height === 0) return { id: card.id, inked: 0 };
        const px = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) inked++;
        return { id: card.id, inked };
      }),
    );
    expect(drawn.map((d) => d.id)).toEqual(data.charts.map((c) => c.id));
    // Axes alone ink some pixels; lines for three runs ink many more.
    for (const d of drawn) expect(d.inked, d.id).toBeGreaterThan(2000);
  });

  it("names every run in every chart's legend and in the summary", async () => {
    const legends = await page.$$eval(".chart", (cards) => cards.map((c) => c.querySelector(".u-legend")?.textContent ?? ""));
    expect(legends.length).toBe(data.charts.length);
    for (const text of legends) for (const run of data.runs) expect(text).toContain(run.name);
    const summary = await page.textContent("#summary");
    for (const run of data.runs) expect(summary).toContain(run.name);
  });

  it("marks the stage switch in the data every chart draws", () => {
    const acpo = data.runs.filter((r) => r.pipeline !== "grpo").map((r) => r.name);
    for (const c of data.charts) expect(c.marks).toEqual(acpo.map((run) => ({ run, step: 30, stage: "converge" })));
  });

  it("highlights exactly the settings that differ, and can hide the others", async () => {
    const rows = await page.$$eval("#config-table tr[data-key]", (trs) => trs.map((tr) => ({ key: tr.getAttribute("data-key"), differs: tr.classList.contains("differs") })));
    const differs = new Map(rows.map((r) => [r.key, r.differs]));
    expect(differs.get("params[beta].value")).toBe(true); // grpo 0.04 vs acpo 0.3
    expect(differs.get("advantage.expr")).toBe(true);
    expect(differs.get("params[alpha].value")).toBe(true); // absent in grpo
    expect(differs.get("rollout.group")).toBe(false);
    expect(differs.get("run.seed")).toBe(false);
    expect(rows.length).toBe(data.config.rows.length);
    const bg = await page.$eval('#config-table tr[data-key="params[beta].value"] td', (td) => getComputedStyle(td).backgroundColor);
    const plain = await page.$eval('#config-table tr[data-key="rollout.group"] td', (td) => getComputedStyle(td).backgroundColor);
    expect(bg).not.toBe(plain);
    await page.check("#config-only-diff");
    expect(await page.isVisible('#config-table tr[data-key="rollout.group"]')).toBe(false);
    expect(await page.isVisible('#config-table tr[data-key="params[beta].value"]')).toBe(true);
    await page.uncheck("#config-only-diff");
    expect(await page.isVisible('#config-table tr[data-key="rollout.group"]')).toBe(true);
  });

  it("shows trajectories by run and step: tokens as text, one row per step with C and w", async () => {
    // Opens on the first run with attribution (acpo).
    expect(await page.inputValue("#traj-run")).toBe("1");
    const first = page.locator("#traj-list .traj").first();
    expect(await first.locator(".step-row").count()).toBe(3);
    const info = await first.locator(".step-info").allTextContents();
    expect(info[0]).toMatch(/S1.*C [+-]?\d.*w \d/);
    const tokens = await first.locator(".step-row").first().locator(".tok").allTextContents();
    expect(tokens[0]).toBe("First"); // a whole-word token of the char tokenizer
    expect(await first.locator(".traj-head").textContent()).toMatch(/reward \d.*answer: \d+[*+]\d+-\d+/);
    await page.selectOption("#traj-step", "20");
    const steps = await page.$$eval("#traj-list .traj-head", (hs) => hs.length);
    expect(steps).toBe(4);
    await page.selectOption("#traj-filter", "correct");
    const heads = await page.$$eval("#traj-list .traj-head", (hs) => hs.map((x) => x.textContent ?? ""));
    for (const h of heads) expect(h).toContain("✓ correct");
    await page.selectOption("#traj-run", "0"); // grpo: no attribution, so no C line
    const grpoInfo = await page.locator("#traj-list .step-info").allTextContents();
    for (const t of grpoInfo) expect(t).not.toMatch(/C [+-]?\d/);
    expect(problems).toEqual([]);
  });

  it("draws degenerate data: one step, one evaluation, constant values, float-noise ranges", async () => {
    const line = (o: object) => `${JSON.stringify(o)}\n`;
    const one = join(root, "one-step");
    mkdirSync(one);
    writeFileSync(join(one, "metrics.jsonl"), line({ step: 1, stage: "s", reward_mean: 0, accuracy: 0, kl: null, ratio_mean: 0.9999998211860657, entropy_mean: 4.658362109486649 }));
    writeFileSync(join(one, "eval.jsonl"), line({ step: 1, stage: "s", split: "test", metrics: { "acc@8": 0 } }));
    const two = join(root, "two-steps");
    mkdirSync(two);
    writeFileSync(join(two, "metrics.jsonl"), line({ step: 1, stage: "s", reward_mean: 0, ratio_mean: 1, entropy_mean: 4.658128440380096 }) + line({ step: 2, stage: "s", reward_mean: 0, ratio_mean: 0.9999999403953552, entropy_mean: 4.6586 }));
    const d = writeReport([one, two], join(root, "degenerate.html"));
    expect(d.charts.map((c) => c.id)).toEqual(["eval-test-acc@8", "metric-reward_mean", "metric-accuracy", "metric-entropy_mean", "metric-ratio_mean"]);
    const p = await open(join(root, "degenerate.html"));
    expect(await p.locator(".chart canvas").count()).toBe(5);
    expect(await p.locator(".chart .error").count()).toBe(0);
    expect(problems).toEqual([]);
    await p.close();
  });

  it("leaves out samples lines it cannot show, lists them by file:line, and renders the rest", async () => {
    const tok = writeTokenizerFolder(join(root, "tok-bad"));
    const run = writeSyntheticRun(join(root, "bad-samples"), tok, { example: "acpo.acpo", seed: 3, steps: 10, switchAt: 5, evalEvery: 5, gain: 2, attribution: true, modelDir: join(root, "tok-bad") });
    const file = join(run, "samples.jsonl");
    const lines = readFileSync(file, "utf8").trim().split("\n");
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    // The two malformations that used to stop the page's script, in the middle of the file.
    lines.splice(1, 0, JSON.stringify({ ...first, tokens: "oops" }), JSON.stringify({ ...first, step_starts: [0, 100000] }));
    writeFileSync(file, `${lines.join("\n")}\n`);
    const d = writeReport([run], join(root, "bad-samples.html"));
    expect(d.problems).toEqual([
      `${file}:2: field 'tokens' must be a non-empty array of token ids, got "oops"; line left out`,
      `${file}:3: field 'step_starts': entry 1 is 100000, out of range for a response of ${(first.tokens as number[]).length} tokens; line left out`,
    ]);
    const p = await open(join(root, "bad-samples.html"));
    expect(await p.locator("#traj-problems li").allTextContents()).toEqual(d.problems);
    expect(await p.textContent("#traj-problems b")).toBe("2 sample lines were left out:");
    expect(await p.locator("#traj-list .traj").count()).toBe(d.samples[0]!.samples.filter((s) => s.step === d.samples[0]!.samples[0]!.step).length);
    expect(await p.locator("#config-table tr[data-key]").count()).toBe(d.config.rows.length);
    expect(Number(await p.getAttribute("body", "data-rendered"))).toBe(d.charts.length);
    expect(problems).toEqual([]);
    await p.close();
  });

  it("a sample that slips past the loader costs the trajectory list, not the page", async () => {
    // Built by hand, so the loader's check is bypassed: the page's own guard must hold.
    // With a tokenizer, a step that runs past the tokens reads a piece that does not exist.
    const model = join(root, "tok-raw");
    writeTokenizerFolder(model);
    const r = { name: "raw", dir: "/runs/raw", metrics: [{ step: 1, reward_mean: 0.5 }, { step: 2, reward_mean: 0.6 }], evals: [], samples: [{ step: 1, tokens: [40, 41], step_starts: [0, 5] }], config: { seed: 1, pipeline: { model: { path: model } } }, problems: [] };
    writeFileSync(join(root, "raw.html"), renderReport(reportData([r], "raw")));
    const p = await open(join(root, "raw.html"));
    expect(await p.textContent("#traj-list .error")).toMatch(/^could not show these trajectories: /);
    expect(await p.locator("#config-table tr[data-key]").count()).toBe(2);
    expect(problems).toEqual([expect.stringMatching(/^error: trajectories: TypeError/)]);
    problems.length = 0;
    await p.close();
  });

  it("falls back to token ids when the run's model folder is gone", async () => {
    const dir = join(root, "orphan");
    const tok = writeTokenizerFolder(join(root, "tok-only"));
    const run = writeSyntheticRun(dir, tok, { example: "acpo.acpo", seed: 2, steps: 12, switchAt: 6, evalEvery: 4, gain: 2, attribution: true, modelDir: null });
    const d = writeReport([run], join(root, "orphan.html"));
    expect(d.samples[0]!.tokenNote).toMatch(/^tokens shown as ids: no tokenizer at /);
    const p = await open(join(root, "orphan.html"));
    const toks = await p.locator("#traj-list .traj").first().locator(".tok").allTextContents();
    expect(toks.every((t) => /^#\d+$/.test(t))).toBe(true);
    expect(await p.textContent("#trajectories + .section-note + .controls + .section-note")).toContain("tokens shown as ids");
    expect(problems).toEqual([]);
    await p.close();
  });
});
