// The token layout of the shared-prefix forward and backward (transformer.ts forwardHiddenShared).
// An RL update batch is (B, T) right-padded rows prompt + response (padded-batch.ts) in which the
// G rows of a group begin with the same prompt: ~70 % of a quickstart batch's slots are prompt
// tokens, each computed G times by a whole-row forward. Causal attention makes a slot's hidden
// state a function of the tokens and positions at and before it, so rows that agree on their
// first P slots agree there in every layer. This layout keeps each such shared prefix once:
//
//   packed tokens (N) = for each distinct prefix u: its P_u slots, then for each row b: its
//                       slots P_b .. rowSlots_b - 1 (the row's own suffix; padding dropped).
//
// Every sub-block of a layer but attention works token by token, so it runs on the N packed
// tokens as on B * T slots. Attention runs in the whole-row layout (B, T) through row maps
// (shared-attention.ts): `toFull` reads each full slot's q, k, v from its packed token
// (a prefix token serves every row of its group), and the transpose, `fromFull` (lists), sums
// the full rows' gradients back onto the packed tokens. Slots at or past rowSlots_b map to no
// token: their hidden state is 0 and their gradient is dropped (no loss reads them).
// `qStart` (B) tells attention which queries of each full row count: all of a group's first
// row (0), and in every other row only its own slots (from P_b); the kernels skip the rest.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { transposeRowMap } from "../ops/row-gather-sum.js";

/** The CPU side of the layout (see the file header); `none` = N marks "no packed token". */
export interface SharedRowsPlan {
  B: number;
  T: number;
  /** Distinct prefixes, and packed tokens in all (prefix tokens first). */
  U: number;
  N: number;
  prefixOf: Uint32Array; // (B) each row's prefix, < U
  ids: Uint32Array; // (N) input token of each packed token
  pos: Uint32Array; // (N) its position
  toFull: Uint32Array; // (B*T) packed token of each full slot, N where none
  /** (B*T) like toFull, but a prefix slot maps only in its group's first row: the rows whose attention output counts. */
  toFullFirst: Uint32Array;
  fromFirst: Uint32Array; // (N) the full slot a packed token's attention output is read from (first row of its group)
  fromFull: { offsets: Uint32Array; idx: Uint32Array }; // (N + 1), (<= B*T): the full slots of each packed token, in row order
  /** (B) each row's first query slot whose attention output counts: 0 in its group's first row, else its prefix length. */
  qStart: Uint32Array;
}

/**
 * The layout of `B` right-padded rows of `T` slots (ids and positions (B*T), as paddedRows
 * makes them): row b shares its first prefixLen[b] slots with every row that has the same ids
 * and positions there, and needs its first rowSlots[b] slots computed.
 */
export function sharedRowsPlan(rows: { B: number; T: number; ids: Uint32Array; pos: Uint32Array }, prefixLen: ArrayLike<number>, rowSlots: ArrayLike<number>): SharedRowsPlan {
  const { B, T } = rows;
  if (rows.ids.length !== B * T || rows.pos.length !== B * T) throw new Error(`sharedRowsPlan: ids and positions must hold B * T = ${B * T} slots, got ${rows.ids.length} and ${rows.pos.length}`);
  if (prefixLen.length !== B || rowSlots.length !== B) throw new Error(`sharedRowsPlan: one prefix length and one slot count per row (B = ${B}), got ${prefixLen.length} and ${rowSlots.length}`);
  for (let b = 0; b < B; b++) {
    const P = prefixLen[b]!, S = rowSlots[b]!;
    if (!(Number.isInteger(P) && Number.isInteger(S) && 0 <= P && P <= S && S <= T)) throw new Error(`sharedRowsPlan: row ${b} has prefix ${P} and ${S} slots; need 0 <= prefix <= slots <= T = ${T}`);
  }
  const key = (b: number) => `${prefixLen[b]}|${rows.ids.subarray(b * T, b * T + prefixLen[b]!).join(",")}|${rows.pos.subarray(b * T, b * T + prefixLen[b]!).join(",")}`;
  const index = new Map<string, number>(), first: number[] = [];
  const prefixOf = Uint32Array.from({ length: B }, (_, b) => {
    const k = key(b);
    let u = index.get(k);
    if (u === undefined) index.set(k, (u = first.push(b) - 1));
    return u;
  });
  const U = first.length, prefixLenU = Uint32Array.from(first, (b) => prefixLen[b]!);
  // Packed token numbering: prefix u's slot t at prefixStart[u] + t, row b's own slot t at rowStart[b] + t - P_b.
  const prefixStart = new Uint32Array(U + 1);
  for (let u = 0; u < U; u++) prefixStart[u + 1] = prefixStart[u]! + prefixLenU[u]!;
  const rowStart = new Uint32Array(B + 1);
  rowStart[0] = prefixStart[U]!;
  for (let b = 0; b < B; b++) rowStart[b + 1] = rowStart[b]! + rowSlots[b]! - prefixLen[b]!;
  const N = rowStart[B]!;
  const ids = new Uint32Array(N), pos = new Uint32Array(N), fromFirst = new Uint32Array(N);
  const toFull = new Uint32Array(B * T).fill(N), toFullFirst = new Uint32Array(B * T).fill(N), qStart = new Uint32Array(B);
  for (let b = 0; b < B; b++) {
    const u = prefixOf[b]!, P = prefixLen[b]!, isFirst = first[u] === b;
    qStart[b] = isFirst ? 0 : P;
    for (let t = 0; t < rowSlots[b]!; t++) {
      const n = b * T + t, own = t >= P, k = own ? rowStart[b]! + t - P : prefixStart[u]! + t;
      toFull[n] = k;
      if (own || isFirst) {
        toFullFirst[n] = k;
        ids[k] = rows.ids[n]!;
        pos[k] = rows.pos[n]!;
        fromFirst[k] = n;
      }
    }
  }
  return { B, T, U, N, prefixOf, ids, pos, toFull, toFullFirst, fromFirst, fromFull: transposeRowMap(toFull, N), qStart };
}

/** The layout on the GPU, for the transformer; `release` frees its maps. */
export interface SharedRows {
  B: number;
  T: number;
  U: number;
  N: number;
  ids: Tensor; // (N) u32
  pos: Tensor; // (N) u32
  toFull: Tensor; // (B*T) u32, N where none
  toFullFirst: Tensor; // (B*T) u32, N where none
  fromFirst: Tensor; // (N) u32, < B*T
  fromOffsets: Tensor; // (N + 1) u32
  fromIdx: Tensor; // (max(nnz, 1)) u32
  qStart: Tensor; // (B) u32
  release(): void;
}

/** Upload a plan's maps (a plan with N = 0 tokens keeps one-element stand-ins nothing reads). */
export function uploadSharedRows(gpu: Gpu, p: SharedRowsPlan): SharedRows {
  const atLeastOne = (a: Uint32Array) => (a.length > 0 ? a : Uint32Array.of(0));
  const t = {
    ids: gpu.upload(atLeastOne(p.ids), undefined, "shared ids"),
    pos: gpu.upload(atLeastOne(p.pos), undefined, "shared positions"),
    toFull: gpu.upload(p.toFull, undefined, "shared toFull"),
    toFullFirst: gpu.upload(p.toFullFirst, undefined, "shared toFullFirst"),
    fromFirst: gpu.upload(atLeastOne(p.fromFirst), undefined, "shared fromFirst"),
    fromOffsets: gpu.upload(p.fromFull.offsets, undefined, "shared fromFull offsets"),
    fromIdx: gpu.upload(atLeastOne(p.fromFull.idx), undefined, "shared fromFull rows"),
    qStart: gpu.upload(p.qStart, undefined, "shared query starts"),
  };
  return { B: p.B, T: p.T, U: p.U, N: p.N, ...t, release: () => gpu.release(...Object.values(t)) };
}
