// Right-padded token rows: the one layout in which every batched forward pass reads several
// sequences of different lengths (SFT loss, scoring, prefill, the RL update). Slot b*T + t
// holds row b's token t as input, the token after it as target, and position t; slots past a
// row's end hold token 0, which nothing reads as a real token (callers mask them or read only
// the slots inside each row).
//
// T is the caller's: a next-token loss uses nextTokenSlots (the longest sequence minus one,
// whose last token is only ever a target); scoring and prefill use longestRow.

export interface PaddedRows {
  B: number;
  T: number;
  ids: Uint32Array; // (B, T) input tokens, right-padded with 0
  targets: Uint32Array; // (B, T) the next token (ids shifted left by one), 0 past the row's end
  pos: Uint32Array; // (B, T) positions 0..T-1
}

/** The longest row's length. */
export function longestRow(seqs: readonly ArrayLike<number>[]): number {
  return Math.max(...seqs.map((s) => s.length));
}

/** Slots per row for a next-token loss: every token but the longest row's last has a target. */
export function nextTokenSlots(seqs: readonly ArrayLike<number>[]): number {
  return longestRow(seqs) - 1;
}

/** `seqs` right-padded to T slots per row (see the file comment). */
export function paddedRows(seqs: readonly ArrayLike<number>[], T: number): PaddedRows {
  const B = seqs.length;
  const ids = new Uint32Array(B * T), targets = new Uint32Array(B * T), pos = new Uint32Array(B * T);
  seqs.forEach((s, b) => {
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = s[t] ?? 0;
      targets[b * T + t] = s[t + 1] ?? 0;
      pos[b * T + t] = t;
    }
  });
  return { B, T, ids, targets, pos };
}

/** Rows grouped by content: `first` holds the first row of each distinct sequence, `of[b]` the index in `first` of row b's. */
export interface DistinctRows {
  first: number[]; // (U) row indices, in order of first appearance
  of: Uint32Array; // (B) values < U
}

/** The distinct sequences among `seqs` (a prompt repeated for the G responses of its group appears once). */
export function distinctRows(seqs: readonly ArrayLike<number>[]): DistinctRows {
  const index = new Map<string, number>(), first: number[] = [];
  const of = Uint32Array.from(seqs, (s, b) => {
    const key = Array.prototype.join.call(s, ",");
    let u = index.get(key);
    if (u === undefined) index.set(key, (u = first.push(b) - 1));
    return u;
  });
  return { first, of };
}

/**
 * Per row, how many leading positions its aligned block of `block` rows shares: the row's
 * length where every row of the block repeats one sequence (of[] equal), else 0 (and 0 in a
 * last, incomplete block). Null when no block shares: generate() then has nothing to pass to
 * attentionDecode's "rows-sg" schedule, which reads a block's shared keys once.
 */
export function blockPrefixes(of: ArrayLike<number>, lens: readonly number[], block: number): Uint32Array | null {
  const B = lens.length, out = new Uint32Array(B);
  let any = false;
  for (let b0 = 0; b0 + block <= B; b0 += block) {
    let same = true;
    for (let b = b0 + 1; b < b0 + block; b++) same &&= of[b] === of[b0];
    if (!same) continue;
    for (let b = b0; b < b0 + block; b++) out[b] = lens[b]!;
    any = true;
  }
  return any ? out : null;
}
