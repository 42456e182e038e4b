// Plain-text tables for the terminal.
import type { Table } from "./types.js";

export function renderTable(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const out = [`== ${t.title}`, line(t.columns), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)];
  for (const n of t.notes ?? []) out.push(`  ${n}`);
  return out.join("\n");
}
