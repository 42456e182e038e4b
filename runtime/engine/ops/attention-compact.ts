// Row order of the subgroup attention kernels' query-offset variant (attention-sg.ts): within
// one (b, kv head), the G heads' computed queries t >= q0 = qStart[b] come first, packed into
// tiles, and the G * q0 skipped queries after them (their lanes only write zeros).
//
// Why: with the rows in their natural order (attention-tile.ts clampedRowPrelude), a tile
// that holds any computed query walks the keys up to the largest query of the tile for all
// its 32 lanes, and at the GRPO update's shape (T 121, G 2, q0 ~75 in 7 rows of 8) the
// computed queries of one head straddle tiles that also hold skipped ones and the other
// head's: 4 tiles walk the keys up to 95, 120, 102 and 120 where the packed order needs 3
// tiles, up to 106, 120 and 120 (a fifth fewer key steps). A lane's own arithmetic does not depend on which tile holds it (keys
// j <= t in chunks of 8 from 0, later keys masked), so out, att, datt and dq keep their bits.
import { type QueryOffset, TILE, skippedRow } from "./attention-tile.js";

/**
 * WGSL: clampedRowPrelude's names (G, kvh, b, t, h, rowQ, kv0, kvStride, rowLine's, inRange,
 * live, iMax) in the packed order; a tile without computed queries zeroes its skipped rows and
 * returns (uniform: qStart is read-only storage at a uniform index).
 */
export const compactRowPrelude = (rowLine: string, o: QueryOffset): string => /* wgsl */ `
  let G = u.Hq / u.Hkv;
  let kvh = wid.y;
  let b = wid.z;
  let q0 = min(qStart[b], u.T); // the row's first computed query
  let n = u.T - q0; // computed queries per head
  let nLive = G * n; // flat index: head g's query q0 + i at g * n + i, then head g's skipped query i at nLive + g * q0 + i
  let r0 = wid.x * ${TILE}u;
  let inRange = r0 + lid < G * u.T;
  let live = r0 + lid < nLive;
  let r = min(r0 + lid, G * u.T - 1u); // lanes past the last row: a clamped copy
  let skipped = r >= nLive;
  let rs = r - nLive; // (wraps where live; unused there)
  let t = select(q0 + r % max(n, 1u), rs % max(q0, 1u), skipped);
  let h = kvh * G + select(r / max(n, 1u), rs / max(q0, 1u), skipped);
  let rowQ = ((b * u.T + t) * u.Hq + h) * D4; // vec4 index of q/out row (b, t, h)
  let kv0 = (b * u.T * u.Hkv + kvh) * D4; // vec4 index of k/v row (b, 0, kvh)
  let kvStride = u.Hkv * D4; // between consecutive tokens
  ${rowLine}
  if (r0 >= nLive) {
    ${skippedRow(o)}
    return;
  }
  let rLast = min(r0 + ${TILE}u, nLive) - 1u;
  let iMax = q0 + select(rLast % n, n - 1u, r0 / n != rLast / n); // the tile's largest computed query`;
