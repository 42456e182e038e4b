// What a benchmark suite is: a name, a one-line description, and a function that measures
// and returns tables. Suites share one GPU context (created on first use).
import type { Gpu } from "../../runtime/engine/gpu.js";

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  /** Printed under the table: how each figure was obtained. */
  notes?: string[];
}

export interface BenchContext {
  /** The shared GPU context (the adapter acpo picks; ACPO_BACKEND / ACPO_ADAPTER apply). */
  gpu(): Promise<Gpu>;
  /** Progress to stderr, so stdout holds only the tables. */
  log(msg: string): void;
  /** --quick: fewer repetitions, for checking that a suite runs. */
  quick: boolean;
}

export interface Suite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Table[]>;
}
