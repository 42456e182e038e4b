// Granularity is a type. Values live at one level; finer levels broadcast coarser
// values (a sequence's reward is the same at each of its tokens), reductions go the
// other way (mean(H over seq) turns a token value into a sequence value).

export type Level = "scalar" | "batch" | "group" | "sequence" | "step" | "token";

/** Coarse to fine. */
export const LEVELS: readonly Level[] = ["scalar", "batch", "group", "sequence", "step", "token"];

export function rank(l: Level): number {
  return LEVELS.indexOf(l);
}

/** The finer of two levels: where a binary operation's result lives. */
export function finer(a: Level, b: Level): Level {
  return rank(a) >= rank(b) ? a : b;
}

export function isFinerThan(a: Level, b: Level): boolean {
  return rank(a) > rank(b);
}

/** Names accepted after `over`, with the level the reduction produces. */
export const REDUCTION_TARGETS: Readonly<Record<string, Level>> = {
  batch: "batch",
  group: "group",
  seq: "sequence",
  sequence: "sequence",
  step: "step",
};
