// Step segmentation of one response (ACPO section 2.1.1): cut a sampled response into
// reasoning steps S_1..S_K so attribution can score each one, and locate the final
// answer Y that attribution measures L(S_1..S_i, Y) against.
//
// Input: the response's tokens as decoded text pieces and each token's entropy H_t.
// Output: token indices 0 = b_0 < b_1 < ... < b_K = T; step k is tokens [b_k, b_{k+1}).
// A pure function of its arguments.
//
// Entropy rules, in order:
// 1. Candidates, among the reasoning tokens only (tokens [0, R), R of rule 4: the final
//    answer's tags, content and the EOS after it are not reasoning, and hot answer digits
//    must not use up the budget): the ceil(fraction * R) highest-entropy reasoning tokens
//    (ties go to the earlier token), or every reasoning token with H >= a threshold given
//    by the caller (a batch-level quantile, see `entropyThreshold`); in both cases also
//    every reasoning token with H > `absolute` when given. NaN entropies are never candidates.
// 2. Markers: a candidate is kept if, after skipping whitespace from its first character,
//    the text lies inside an occurrence of a marker (case-insensitive whole word, see
//    `markerAt`). So a candidate may be the marker's first token, any later token of it
//    ("u" in a character-level "Thus", where Then/Thus is decided), or the whitespace
//    just before it. With an empty marker list every candidate is kept.
// 3. Alignment moves each kept candidate back, never forward:
//    "none": the candidate token itself;
//    "word": the token holding the first character of the marker (or, with no markers,
//            of the word the candidate's text starts in);
//    "sentence": the token holding the first character of that word's sentence (after the
//            last newline or . ! ? before it, see `sentenceStart`). A mid-sentence marker
//            ("7*3=21, then ...") therefore cuts at its sentence's start.
// 4. Answer: with `answerBoundary` (default true) and a complete `<answer>...</answer>`
//    (the last one, as verifiers read it; with `answer: "math"` else the last `\boxed{}`,
//    see locateAnswer), its first token R is a boundary and only tokens before R are
//    reasoning; candidates at or after R are ignored.
// 5. Minimum gap, greedy left to right over the aligned boundaries: a boundary is kept if
//    it is at least `minGap` tokens after the previous kept one (b_0 = 0 included) and,
//    when R is an answer boundary, at least `minGap` tokens before R. The end T is not a
//    constraint: the last step may be shorter.
// Other kinds: "newline" cuts at tokens that start a line (then rules 4-5), "fixed" every
// `length` tokens of the reasoning (then rule 4), "none" keeps the reasoning whole (then 4).
import { type AnswerStyle, locateAnswer, TRACE_MARKERS } from "../../engine/tasks/answer.js";
import { markerCovering, sentenceStart, skipSpace, startsLine, TokenText, wordStart } from "./segment-text.js";

/** Transition words a step may start with: the traces' own, plus common reasoning connectives. */
export const DEFAULT_MARKERS: readonly string[] = [...TRACE_MARKERS, "However", "Therefore", "Hence", "Wait", "Alternatively", "Second", "Now"];

export type SegmentRules = (
  | {
      kind: "entropy";
      candidates: { by: "top"; fraction: number } | { by: "threshold"; value: number };
      /** Also a candidate: any token with entropy above this (nats). */
      absolute?: number;
      /** Case-insensitive whole-word markers; [] keeps every candidate. */
      markers: readonly string[];
      minGap: number;
      align: "sentence" | "word" | "none";
    }
  | { kind: "newline"; minGap: number }
  | { kind: "fixed"; length: number }
  | { kind: "none" }
) & {
  /** Make the final answer's first token a boundary and segment only the text before it. Default true. */
  answerBoundary?: boolean;
  /** Where the final answer is: "tag" (default) the last `<answer>`; "math" also the last `\boxed{}`, content inside the braces. */
  answer?: AnswerStyle;
};

export interface Segmentation {
  /** 0 = b_0 < ... < b_K = T; step k is tokens [b_k, b_{k+1}). [0] alone for an empty response. */
  boundaries: number[];
  /**
   * Tokens [start, end) of the last complete `<answer>...</answer>`, tags included; null
   * without one. Its content is tokens [contentStart, contentEnd): the tokens that begin
   * inside the text between the tags (a token straddling the opening tag and the content
   * counts as tag, except before a \boxed{} content (AnswerMatch.box), one straddling the
   * content and the closing tag as content), so
   * start <= contentStart <= contentEnd <= end; contentStart = contentEnd when it is empty.
   */
  answer: { start: number; end: number; contentStart: number; contentEnd: number } | null;
  /** Steps before the answer (those attribution scores); all K when the answer is not a boundary. */
  reasoningSteps: number;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`segment: ${name} must be an integer >= ${min}, got ${v}`);
}

/** Candidate tokens by rule 1, among the reasoning tokens [0, R). */
function entropyCandidates(entropies: ArrayLike<number>, R: number, c: Extract<SegmentRules, { kind: "entropy" }>): number[] {
  const out = new Set<number>();
  if (c.candidates.by === "top") {
    const f = c.candidates.fraction;
    if (!(f >= 0 && f <= 1)) throw new RangeError(`segment: top fraction must be in [0, 1], got ${f}`);
    const order = Array.from({ length: R }, (_, t) => t).filter((t) => !Number.isNaN(entropies[t]!));
    order.sort((a, b) => entropies[b]! - entropies[a]! || a - b);
    for (const t of order.slice(0, Math.ceil(f * R))) out.add(t);
  } else {
    for (let t = 0; t < R; t++) if (entropies[t]! >= c.candidates.value) out.add(t);
  }
  if (c.absolute !== undefined) for (let t = 0; t < R; t++) if (entropies[t]! > c.absolute) out.add(t);
  return [...out];
}

/** Rules 2-3: the aligned boundary of candidate t, or null when it starts no marker. */
function alignCandidate(tt: TokenText, t: number, markers: readonly string[], align: "sentence" | "word" | "none"): number | null {
  const q = skipSpace(tt.text, tt.starts[t]!);
  if (q >= tt.text.length) return null;
  let anchor: number;
  if (markers.length > 0) {
    const m = markerCovering(tt.text, q, markers);
    if (m === null) return null;
    anchor = m;
  } else {
    anchor = wordStart(tt.text, q);
  }
  if (align === "none") return t;
  return tt.tokenAt(align === "word" ? anchor : sentenceStart(tt.text, anchor));
}

/** Rule 5 over sorted candidate boundaries in (0, R). */
function applyMinGap(cuts: number[], minGap: number, R: number, answerIsBoundary: boolean): number[] {
  const kept: number[] = [];
  let last = 0;
  for (const b of cuts) {
    if (b - last >= minGap && (!answerIsBoundary || R - b >= minGap)) {
      kept.push(b);
      last = b;
    }
  }
  return kept;
}

/**
 * Segments one response. `pieces[t]` is token t's decoded text; `entropies[t]` its
 * entropy (only read by the "entropy" kind; pass null otherwise).
 */
export function segmentResponse(pieces: readonly string[], entropies: ArrayLike<number> | null, rules: SegmentRules): Segmentation {
  const T = pieces.length;
  const tt = new TokenText(pieces);
  const answer = answerTokens(tt, rules.answer ?? "tag");
  const answerIsBoundary = answer !== null && (rules.answerBoundary ?? true);
  const R = answerIsBoundary ? answer.start : T;

  let cuts: number[] = [];
  switch (rules.kind) {
    case "entropy": {
      if (entropies === null || entropies.length !== T) {
        throw new RangeError(`segment: ${T} tokens but ${entropies === null ? "no" : entropies.length} entropies`);
      }
      checkInt("minGap", rules.minGap, 1);
      const markers = rules.markers.map((s) => s.trim());
      if (markers.some((s) => s === "")) throw new RangeError("segment: empty marker");
      for (const t of entropyCandidates(entropies, R, rules)) {
        const b = alignCandidate(tt, t, markers, rules.align);
        if (b !== null) cuts.push(b);
      }
      cuts = applyMinGap(sortedUnique(cuts, R), rules.minGap, R, answerIsBoundary);
      break;
    }
    case "newline": {
      checkInt("minGap", rules.minGap, 1);
      for (let t = 1; t < R; t++) if (startsLine(tt, t)) cuts.push(t);
      cuts = applyMinGap(cuts, rules.minGap, R, answerIsBoundary);
      break;
    }
    case "fixed": {
      checkInt("length", rules.length, 1);
      for (let b = rules.length; b < R; b += rules.length) cuts.push(b);
      break;
    }
    case "none":
      break;
  }

  const boundaries = [0, ...cuts];
  if (answerIsBoundary && R > 0 && R < T) boundaries.push(R);
  if (T > 0) boundaries.push(T);
  const reasoningSteps = answerIsBoundary ? boundaries.indexOf(R) : boundaries.length - 1;
  return { boundaries, answer, reasoningSteps };
}

/** The first token that begins at or after character offset c (tt.length when none does). */
function firstTokenFrom(tt: TokenText, c: number): number {
  if (c >= tt.text.length) return tt.length;
  const t = tt.tokenAt(c);
  return tt.starts[t]! < c ? t + 1 : t;
}

/** Token span of the last complete answer and of its content (see Segmentation.answer), or null. */
function answerTokens(tt: TokenText, style: AnswerStyle): Segmentation["answer"] {
  const m = locateAnswer(tt.text, style);
  if (m === null) return null;
  const start = tt.tokenAt(m.start), end = tt.tokenAt(m.end - 1) + 1;
  const contentStart = m.box && m.contentStart < m.contentEnd ? tt.tokenAt(m.contentStart) : firstTokenFrom(tt, m.contentStart);
  const contentEnd = Math.max(contentStart, firstTokenFrom(tt, m.contentEnd));
  return { start, end, contentStart, contentEnd };
}

/** Sorted distinct values in (0, R). */
function sortedUnique(xs: number[], R: number): number[] {
  return [...new Set(xs)].filter((b) => b > 0 && b < R).sort((a, b) => a - b);
}

/**
 * Batch-level candidate threshold: the ceil(fraction * N)-th largest entropy over all
 * tokens of all responses (NaN ignored), so that `{ by: "threshold", value }` selects the
 * batch's top fraction (ties at the threshold included). +Infinity when that selects none.
 */
export function entropyThreshold(entropies: readonly ArrayLike<number>[], fraction: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`entropyThreshold: fraction must be in [0, 1], got ${fraction}`);
  const all: number[] = [];
  for (const e of entropies) for (let t = 0; t < e.length; t++) if (!Number.isNaN(e[t]!)) all.push(e[t]!);
  const k = Math.ceil(fraction * all.length);
  if (k === 0) return Infinity;
  all.sort((a, b) => b - a);
  return all[k - 1]!;
}

/** Step index of every token (token t lies in step stepOf[t]), for broadcasting step values to tokens. */
export function stepOfTokens(boundaries: readonly number[]): Int32Array {
  const T = boundaries[boundaries.length - 1] ?? 0;
  const out = new Int32Array(T);
  for (let k = 0; k + 1 < boundaries.length; k++) out.fill(k, boundaries[k]!, boundaries[k + 1]!);
  return out;
}
