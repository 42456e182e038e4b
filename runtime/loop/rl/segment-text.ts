// Character-level helpers for step segmentation: where tokens sit in the response text,
// where words and sentences start, and where a transition marker occurs. Tokens may be
// single characters (the tiny models' tokenizer), whole words, or byte-level BPE pieces
// (" Then" with its leading space, "" for a token holding only the first bytes of a split
// UTF-8 character: TextTokenizer.decodePieces); everything here works on the concatenated
// text and maps back to token indices, so all behave the same.

/** The response text and the character offset of each token. */
export class TokenText {
  readonly text: string;
  /** starts[t]: offset of token t's first character; starts[T] = text.length. */
  readonly starts: Int32Array;

  constructor(readonly pieces: readonly string[]) {
    this.starts = new Int32Array(pieces.length + 1);
    let c = 0;
    for (let t = 0; t < pieces.length; t++) {
      this.starts[t] = c;
      c += pieces[t]!.length;
    }
    this.starts[pieces.length] = c;
    this.text = pieces.join("");
  }

  get length(): number {
    return this.pieces.length;
  }

  /** The token whose characters include offset c (0 <= c < text.length). Empty pieces own no character. */
  tokenAt(c: number): number {
    // Largest t with starts[t] <= c: later tokens start after c, and empty tokens sharing
    // t's start come before it.
    let lo = 0;
    let hi = this.pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= c) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

const WORD = /[\p{L}\p{N}_]/u;
export const isWordChar = (c: string | undefined): boolean => c !== undefined && WORD.test(c);
export const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);

/** First non-whitespace offset at or after c, or text.length. */
export function skipSpace(text: string, c: number): number {
  while (c < text.length && isSpace(text[c])) c++;
  return c;
}

/** Start of the word containing offset c (c itself when text[c] is not a word character). */
export function wordStart(text: string, c: number): number {
  if (!isWordChar(text[c])) return c;
  while (c > 0 && isWordChar(text[c - 1])) c--;
  return c;
}

/**
 * Start of the sentence containing offset p: just after the last sentence end before p,
 * then past any whitespace; 0 when there is none. A sentence end is a newline, or one of
 * . ! ? followed by whitespace or standing right before p ("=21.Then" counts; the "." in
 * "5.25" does not).
 */
export function sentenceStart(text: string, p: number): number {
  for (let i = p - 1; i >= 0; i--) {
    const c = text[i]!;
    if (c === "\n" || ((c === "." || c === "!" || c === "?") && (i + 1 === p || isSpace(text[i + 1])))) return skipSpace(text, i + 1);
  }
  return 0;
}

/**
 * Whether `marker` occurs at offset p, case-insensitively, as a whole word: p starts a
 * word, and when the marker ends in a word character the text does not continue the word
 * ("So" does not match "Some"; "then" does not match "thence").
 */
export function markerAt(text: string, p: number, marker: string): boolean {
  if (p > 0 && isWordChar(text[p - 1])) return false;
  if (p + marker.length > text.length) return false;
  if (text.slice(p, p + marker.length).toLowerCase() !== marker.toLowerCase()) return false;
  return !(isWordChar(marker[marker.length - 1]) && isWordChar(text[p + marker.length]));
}

/**
 * Start offset of a marker occurrence that covers offset q (start <= q < end), the
 * earliest such start when several markers overlap; null when q is inside no marker.
 */
export function markerCovering(text: string, q: number, markers: readonly string[]): number | null {
  let best: number | null = null;
  for (const m of markers) {
    for (let p = Math.max(0, q - m.length + 1); p <= q; p++) {
      if ((best === null || p < best) && markerAt(text, p, m)) {
        best = p;
        break;
      }
    }
  }
  return best;
}

/**
 * Whether token t starts a line: it holds a non-whitespace character, and the whitespace
 * run just before that character (inside the token or in earlier tokens) has a newline.
 */
export function startsLine(tt: TokenText, t: number): boolean {
  const piece = tt.pieces[t]!;
  let k = 0;
  while (k < piece.length && isSpace(piece[k])) k++;
  if (k === piece.length) return false;
  for (let c = tt.starts[t]! + k - 1; c >= 0 && isSpace(tt.text[c]); c--) if (tt.text[c] === "\n") return true;
  return false;
}
