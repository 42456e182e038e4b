// Plain-TypeScript reference for rowstats.ts: the same definitions computed the textbook
// way (two passes: max, then sums), in the precision of the arrays passed (float64 for
// finite differences). Row validity rules match the kernel: NaN or +inf logit, or no finite
// logit at all, makes every output of the row NaN; -inf logits have p = 0.
import type { Arr } from "./ref-types.js";

export interface RowStat {
  bad: boolean; // row is not a distribution
  m: number; // max logit
  logs: number; // log sum_v exp(x_v - m)
  lse: number; // m + logs
  entropy: number; // -sum p log p
}

/** Statistics of row n of logits (N, V). */
export function rowStatRef(logits: Arr, n: number, V: number): RowStat {
  const base = n * V;
  let m = -Infinity;
  let bad = false;
  for (let v = 0; v < V; v++) {
    const x = logits[base + v]!;
    if (Number.isNaN(x) || x === Infinity) bad = true;
    else if (x > m) m = x;
  }
  if (m === -Infinity) bad = true;
  if (bad) return { bad, m: NaN, logs: NaN, lse: NaN, entropy: NaN };
  let s = 0;
  let t = 0; // sum p_v' (x_v - m) with p_v' = exp(x_v - m), p = p' / s
  for (let v = 0; v < V; v++) {
    const d = logits[base + v]! - m;
    const e = Math.exp(d);
    s += e;
    if (e > 0) t += e * d; // 0 * log 0 = 0
  }
  const logs = Math.log(s);
  // H = -sum p (x - m - logs) = logs - t / s
  return { bad, m, logs, lse: m + logs, entropy: logs - t / s };
}
