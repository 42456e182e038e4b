// Experiment sections of the HTML report: a titled block with tables and charts that a
// command computes (the sweep's per-cell table and mean curves, attribution-check's
// correlations), drawn by sections-page.js above the per-run curves. Charts here name their own
// series and colours, unlike the per-run curves (charts.ts), so a series can be a cell's
// mean over seeds or a class of steps.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { outputErrorMessage } from "../../engine/fs-errors.js";
import { type ReportData, ReportWriteError, renderReport, reportData } from "./html.js";
import { loadRuns } from "./load.js";

export interface SectionTable {
  header: string[];
  rows: string[][];
  /** A line under the table (what the columns mean). */
  note?: string;
}

export interface SectionSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** Line width in CSS pixels: thick for a mean, thin for the seeds around it. */
  width: number;
  /** 0..1; seeds are drawn faint. */
  alpha: number;
}

export interface SectionChart {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: SectionSeries[];
}

export interface ReportSection {
  id: string;
  title: string;
  note: string;
  tables: SectionTable[];
  charts: SectionChart[];
}

// Tableau 10, as the per-run curves use.
export const SECTION_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

const here = dirname(fileURLToPath(import.meta.url));

/** Text that is safe inside a <script> element (no `</script`, no `<!--`). */
function scriptSafe(s: string): string {
  return s.replace(/<(\/script|!--)/gi, "\\u003c$1");
}

/**
 * A report page (html.ts renderReport) with `sections` added: their data and the script that
 * draws them go last in the body, after the page's own script has built the curves they
 * are placed above.
 */
export function withSections(html: string, sections: readonly ReportSection[]): string {
  if (sections.length === 0) return html;
  const at = html.lastIndexOf("</body>");
  if (at < 0) throw new Error("withSections: the page has no </body>");
  const json = JSON.stringify(sections).replace(/</g, "\\u003c");
  const add = `<script type="application/json" id="sections-data">${json}</script>\n<script>${scriptSafe(readFileSync(join(here, "sections-page.js"), "utf8"))}</script>\n`;
  return html.slice(0, at) + add + html.slice(at);
}

/** Write a report with sections to `out`; a failed write leaves no partial page that was not there before. */
export function writeSectionReport(dirs: readonly string[], out: string, title: string, sections: readonly ReportSection[]): ReportData {
  const data = reportData(loadRuns(dirs), title);
  const html = withSections(renderReport(data), sections);
  const existed = existsSync(out);
  try {
    writeFileSync(out, html);
  } catch (e) {
    if (!existed && existsSync(out)) rmSync(out);
    throw new ReportWriteError(outputErrorMessage(out, "write the report", e, "or write it elsewhere with -o FILE"));
  }
  return data;
}
