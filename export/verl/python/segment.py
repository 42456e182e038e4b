"""Python twin of acpo's step segmentation (runtime/loop/rl/segment.ts and segment-text.ts):
the same boundaries, answer span and reasoning-step count for the same token pieces and
entropies (test/export/golden-parity.test.ts holds them equal on shared golden vectors).
The rules are documented in segment.ts; in short: entropy candidates among the reasoning
tokens only (top fraction of the reasoning tokens, or a threshold, NaN never), kept when
they lie in a transition marker, aligned back to the marker's word or sentence, the final
answer's first token a boundary, a minimum gap greedily. Offsets are UTF-16 code units
(jsstr.py). Standard library only.
"""
import math

from .jsstr import is_space, is_word_char, js_lower, js_number, js_trim, units
from .verifiers import TRACE_MARKERS, extract_answer_units

DEFAULT_MARKERS = (*TRACE_MARKERS, "However", "Therefore", "Hence", "Wait", "Alternatively", "Second", "Now")


class TokenText:
    """The response text (unit string) and the offset of each token: starts[T] = len(text)."""

    def __init__(self, pieces):
        self.pieces = [units(p) for p in pieces]
        self.starts = []
        c = 0
        for p in self.pieces:
            self.starts.append(c)
            c += len(p)
        self.starts.append(c)
        self.text = "".join(self.pieces)

    def __len__(self):
        return len(self.pieces)

    def token_at(self, c):
        """Largest t with starts[t] <= c (empty pieces own no character)."""
        lo, hi = 0, len(self.pieces) - 1
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if self.starts[mid] <= c:
                lo = mid
            else:
                hi = mid - 1
        return lo


def _ch(text, i):
    return text[i] if 0 <= i < len(text) else None


def skip_space(text, c):
    while c < len(text) and is_space(text[c]):
        c += 1
    return c


def word_start(text, c):
    if not is_word_char(_ch(text, c)):
        return c
    while c > 0 and is_word_char(text[c - 1]):
        c -= 1
    return c


def sentence_start(text, p):
    for i in range(p - 1, -1, -1):
        c = text[i]
        if c == "\n" or (c in ".!?" and (i + 1 == p or is_space(_ch(text, i + 1)))):
            return skip_space(text, i + 1)
    return 0


def marker_at(text, p, marker):
    if p > 0 and is_word_char(text[p - 1]):
        return False
    if p + len(marker) > len(text):
        return False
    if js_lower(text[p : p + len(marker)]) != js_lower(marker):
        return False
    return not (is_word_char(marker[-1]) and is_word_char(_ch(text, p + len(marker))))


def marker_covering(text, q, markers):
    best = None
    for m in markers:
        for p in range(max(0, q - len(m) + 1), q + 1):
            if (best is None or p < best) and marker_at(text, p, m):
                best = p
                break
    return best


def starts_line(tt, t):
    piece = tt.pieces[t]
    k = 0
    while k < len(piece) and is_space(piece[k]):
        k += 1
    if k == len(piece):
        return False
    c = tt.starts[t] + k - 1
    while c >= 0 and is_space(tt.text[c]):
        if tt.text[c] == "\n":
            return True
        c -= 1
    return False


def _check_int(name, v, lo):
    if not (isinstance(v, (int, float)) and float(v).is_integer() and v >= lo):
        raise ValueError(f"segment: {name} must be an integer >= {lo}, got {js_number(v)}")


def _is_nan(x):
    return x != x


def _entropy_candidates(entropies, R, rules):
    out = set()
    cand = rules["candidates"]
    if cand["by"] == "top":
        f = cand["fraction"]
        if not (0 <= f <= 1):
            raise ValueError(f"segment: top fraction must be in [0, 1], got {js_number(f)}")
        order = [t for t in range(R) if not _is_nan(entropies[t])]
        order.sort(key=lambda t: (-entropies[t], t))
        out.update(order[: math.ceil(f * R)])
    else:
        out.update(t for t in range(R) if entropies[t] >= cand["value"])
    if rules.get("absolute") is not None:
        out.update(t for t in range(R) if entropies[t] > rules["absolute"])
    return list(out)


def _align_candidate(tt, t, markers, align):
    q = skip_space(tt.text, tt.starts[t])
    if q >= len(tt.text):
        return None
    if markers:
        anchor = marker_covering(tt.text, q, markers)
        if anchor is None:
            return None
    else:
        anchor = word_start(tt.text, q)
    if align == "none":
        return t
    return tt.token_at(anchor if align == "word" else sentence_start(tt.text, anchor))


def _apply_min_gap(cuts, min_gap, R, answer_is_boundary):
    kept, last = [], 0
    for b in cuts:
        if b - last >= min_gap and (not answer_is_boundary or R - b >= min_gap):
            kept.append(b)
            last = b
    return kept


def _first_token_from(tt, c):
    if c >= len(tt.text):
        return len(tt)
    t = tt.token_at(c)
    return t + 1 if tt.starts[t] < c else t


def _answer_tokens(tt):
    m = extract_answer_units(tt.text)
    if m is None:
        return None
    start, end = tt.token_at(m["start"]), tt.token_at(m["end"] - 1) + 1
    cs = _first_token_from(tt, m["content_start"])
    ce = max(cs, _first_token_from(tt, m["content_end"]))
    return {"start": start, "end": end, "content_start": cs, "content_end": ce}


def segment_response(pieces, entropies, rules):
    """Segments one response: token pieces (decoded text of each token, str), entropies (one
    per token; read by the "entropy" kind only) and rules (a dict as segment.ts's
    SegmentRules, snake_case: kind, candidates {by, fraction|value}, absolute, markers,
    min_gap, align, length, answer_boundary). Returns {boundaries, answer, reasoning_steps}."""
    T = len(pieces)
    tt = TokenText(pieces)
    answer = _answer_tokens(tt)
    answer_is_boundary = answer is not None and rules.get("answer_boundary", True)
    R = answer["start"] if answer_is_boundary else T
    kind = rules["kind"]
    cuts = []
    if kind == "entropy":
        if entropies is None or len(entropies) != T:
            raise ValueError(f"segment: {T} tokens but {'no' if entropies is None else len(entropies)} entropies")
        _check_int("minGap", rules["min_gap"], 1)
        markers = [js_trim(units(s)) for s in rules["markers"]]
        if any(m == "" for m in markers):
            raise ValueError("segment: empty marker")
        for t in _entropy_candidates(entropies, R, rules):
            b = _align_candidate(tt, t, markers, rules["align"])
            if b is not None:
                cuts.append(b)
        cuts = _apply_min_gap(sorted(b for b in set(cuts) if 0 < b < R), rules["min_gap"], R, answer_is_boundary)
    elif kind == "newline":
        _check_int("minGap", rules["min_gap"], 1)
        cuts = _apply_min_gap([t for t in range(1, R) if starts_line(tt, t)], rules["min_gap"], R, answer_is_boundary)
    elif kind == "fixed":
        _check_int("length", rules["length"], 1)
        cuts = list(range(int(rules["length"]), R, int(rules["length"])))
    elif kind != "none":
        raise ValueError(f"segment: unknown kind {kind!r}")
    boundaries = [0, *cuts]
    if answer_is_boundary and 0 < R < T:
        boundaries.append(R)
    if T > 0:
        boundaries.append(T)
    reasoning_steps = boundaries.index(R) if answer_is_boundary else len(boundaries) - 1
    return {"boundaries": boundaries, "answer": answer, "reasoning_steps": reasoning_steps}


def entropy_threshold(entropies, fraction):
    """The ceil(fraction * N)-th largest entropy over all tokens of all responses (NaN ignored); inf when none."""
    if not (0 <= fraction <= 1):
        raise ValueError(f"entropyThreshold: fraction must be in [0, 1], got {js_number(fraction)}")
    vals = [e for es in entropies for e in es if not _is_nan(e)]
    k = math.ceil(fraction * len(vals))
    if k == 0:
        return math.inf
    vals.sort(reverse=True)
    return vals[k - 1]


def step_starts(segmentation, L):
    """First token of each step of a response of L tokens (run-dir-samples.ts stepStarts): [0] without segmentation."""
    if segmentation is None:
        return [0]
    b = segmentation["boundaries"]
    starts = [x for i, x in enumerate(b) if x < L and (i == 0 or x > b[i - 1])]
    return starts if starts and starts[0] == 0 else [0, *starts]


def rules_of_pipeline(segment):
    """A pipeline's `segment` block (compiler/pipeline.ts Segment, as the exporter writes it) as rules (rollout.ts segmentRules)."""
    if segment is None:
        return None
    if segment["kind"] == "entropy":
        return {"kind": "entropy", "candidates": segment["candidates"], "markers": segment["markers"], "min_gap": segment["min_gap"], "align": segment["align"]}
    if segment["kind"] == "newline":
        return {"kind": "newline", "min_gap": segment["min_gap"]}
    if segment["kind"] == "none":
        return {"kind": "none"}
    return {"kind": "fixed", "length": segment["length"]}
