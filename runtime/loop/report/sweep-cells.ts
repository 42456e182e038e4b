// A sweep cell with block axes (`--grid segment=...`, `--grid attribution=...`, sweep-grid.ts)
// trains a child pipeline: `pipeline <name>_<cell> extends "<file>" { <block> }`, written
// beside the cell's runs so the run can be reproduced from the sweep directory alone. The
// child replaces only that block (spec/language.md, `extends`); everything else, params
// included, is the file's.
import { resolve } from "node:path";
import type { Pipeline } from "../../../compiler/index.js";
import type { SweepCell } from "./sweep-grid.js";

// The entropy cell when the file segments otherwise: DESIGN.md's reading of the paper
// (top 5 % entropy, transition markers, min gap 6, sentence starts), as examples/acpo.acpo.
const ENTROPY_DEFAULT = 'segment entropy { top 0.05  markers ["First", "Then", "Next", "So", "Thus", "Therefore", "However", "Wait", "Finally"]  min_gap 6  align sentence }';

/** The fixed cell's step length when the value is plain `fixed`. */
export const FIXED_DEFAULT_LENGTH = 16;

function segmentBlock(value: string, parent: Pipeline): string | null {
  if (value === "entropy") return parent.segment?.kind === "entropy" ? null : ENTROPY_DEFAULT; // null: keep the file's own
  if (value === "newline") return "segment newline { min_gap 1 }";
  if (value === "none") return "segment none";
  const n = value === "fixed" ? FIXED_DEFAULT_LENGTH : Number(value.slice("fixed:".length));
  return `segment fixed { length ${n} }`;
}

function attributionBlock(value: string, parent: Pipeline): string {
  const j = parent.attribution?.judge ?? { kind: "policy" as const };
  // A judge model's path is resolved already; the child names it absolutely.
  const judge = j.kind === "model" ? JSON.stringify(j.path) : j.kind;
  return `attribution ${value} { judge ${judge} }`;
}

/** The child pipeline's source for `cell`, to be written at `childPath`; null when the cell has no block axes. */
export function cellSource(cell: SweepCell, parentFile: string, parent: Pipeline): string | null {
  if (cell.blocks.length === 0) return null;
  const lines = cell.blocks.map((b) => (b.name === "segment" ? segmentBlock(b.value, parent) : attributionBlock(b.value, parent))).filter((l): l is string => l !== null);
  // Absolute: the child is checked before its folder exists, and a relative path through a
  // missing folder ("cells/../x.acpo") does not resolve.
  const from = resolve(parentFile);
  const name = `${parent.name}_${cell.blocks.map((b) => `${b.name}_${b.value.replace(/[^A-Za-z0-9]/g, "_")}`).join("_")}`;
  return `# acpo sweep cell ${cell.label}: ${parentFile} with ${cell.blocks.map((b) => b.name).join(" and ")} replaced\npipeline ${name} extends ${JSON.stringify(from)} {\n${lines.map((l) => `  ${l}\n`).join("")}}\n`;
}
