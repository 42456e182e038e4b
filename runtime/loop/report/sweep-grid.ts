// The grid of `acpo sweep`: `--grid name=v1,v2` options become cells (one value per
// name, the cartesian product), each a list of `--set name=value` overrides and a label.
// Params are the settings `--set` reaches, so the checker validates every cell's values
// (bounds, unknown names) the same way it validates `--set`. Two axes name blocks instead
// of params, for the follow-up experiments of issue 13: `segment` (entropy, newline, fixed,
// fixed:N, none) and `attribution` (loglik, perplexity); a cell with them trains a child
// pipeline that extends the file and replaces that block (sweep-cells.ts).

export class SweepError extends Error {}

export interface GridAxis {
  name: string;
  /** As written: the checker parses them, so "3e-4" and "0.0003" stay as the user spelt them. */
  values: string[];
}

export interface SweepCell {
  /** "lr=3e-4 alpha=0" — axis order, space-separated. */
  label: string;
  /** ["lr=3e-4", "alpha=0"], for train's `set`: the param axes. */
  set: string[];
  /** The block axes' values, e.g. [{ name: "segment", value: "none" }]. */
  blocks: { name: BlockAxis; value: string }[];
}

/** Axes that replace a block of the pipeline rather than set a param, and their values. */
export const BLOCK_AXES = {
  segment: /^(entropy|newline|fixed|fixed:[1-9][0-9]*|none)$/,
  attribution: /^(loglik|perplexity)$/,
} as const;
export type BlockAxis = keyof typeof BLOCK_AXES;

const BLOCK_VALUES: Record<BlockAxis, string> = { segment: "entropy, newline, fixed, fixed:N (N tokens a step) or none", attribution: "loglik or perplexity" };

function isBlockAxis(name: string): name is BlockAxis {
  return Object.hasOwn(BLOCK_AXES, name);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One `--grid name=v1,v2,...` option. */
export function parseAxis(spec: string): GridAxis {
  const eq = spec.indexOf("=");
  if (eq < 0) throw new SweepError(`--grid ${spec}: expected name=v1,v2,... (e.g. --grid alpha=0,0.5)`);
  const name = spec.slice(0, eq).trim();
  if (!NAME.test(name)) throw new SweepError(`--grid ${spec}: '${name}' is not a param name`);
  const values = spec.slice(eq + 1).split(",").map((v) => v.trim());
  if (values.some((v) => v === "")) throw new SweepError(`--grid ${spec}: empty value; list values separated by single commas`);
  if (new Set(values).size !== values.length) throw new SweepError(`--grid ${spec}: a value repeats, so two cells would be the same`);
  if (isBlockAxis(name)) {
    const bad = values.find((v) => !BLOCK_AXES[name].test(v));
    if (bad !== undefined) throw new SweepError(`--grid ${spec}: '${bad}' is not ${name === "attribution" ? "an" : "a"} ${name} kind; use ${BLOCK_VALUES[name]}`);
  }
  return { name, values };
}

/** The axes of all `--grid` options; a name may appear once, and not also in `--set`. */
export function parseGrid(specs: readonly string[], set: readonly string[]): GridAxis[] {
  if (specs.length === 0) throw new SweepError("sweep needs at least one --grid name=v1,v2,...");
  const axes = specs.map(parseAxis);
  const names = axes.map((a) => a.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new SweepError(`--grid ${dup} is given twice; list all its values in one --grid`);
  const fixed = set.map((s) => s.slice(0, Math.max(0, s.indexOf("="))).trim());
  const both = names.find((n) => fixed.includes(n));
  if (both !== undefined) throw new SweepError(`${both} is both swept (--grid) and fixed (--set); drop one`);
  return axes;
}

/** The cartesian product, first axis slowest. */
export function gridCells(axes: readonly GridAxis[]): SweepCell[] {
  let cells: { name: string; value: string }[][] = [[]];
  for (const a of axes) cells = cells.flatMap((c) => a.values.map((value) => [...c, { name: a.name, value }]));
  return cells.map((c) => ({
    label: c.map((x) => `${x.name}=${x.value}`).join(" "),
    set: c.filter((x) => !isBlockAxis(x.name)).map((x) => `${x.name}=${x.value}`),
    blocks: c.flatMap((x) => (isBlockAxis(x.name) ? [{ name: x.name, value: x.value }] : [])),
  }));
}

/**
 * The cells with the baseline first (the table's differences are against the first row).
 * `baseline` is a cell's assignments, e.g. "lr=3e-4 alpha=0" or "lr=3e-4,alpha=0" in any
 * order; absent, the first cell is the baseline.
 */
export function baselineFirst(cells: readonly SweepCell[], baseline: string | undefined): SweepCell[] {
  if (baseline === undefined) return [...cells];
  const want = baseline.split(/[\s,]+/).filter((x) => x !== "").sort().join(" ");
  const i = cells.findIndex((c) => assignments(c).sort().join(" ") === want);
  if (i < 0) throw new SweepError(`--baseline ${JSON.stringify(baseline)} is not a cell of the grid; the cells are: ${cells.map((c) => JSON.stringify(c.label)).join(", ")}`);
  return [cells[i]!, ...cells.filter((_, k) => k !== i)];
}

/** A cell's "name=value" pairs, params and blocks, in axis order. */
function assignments(cell: SweepCell): string[] {
  return cell.label.split(" ");
}

/** A run-directory name for a cell: its label with spaces as commas ("lr=3e-4,alpha=0"). */
export function cellDirName(cell: SweepCell): string {
  return assignments(cell).join(",");
}
