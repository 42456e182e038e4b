"""Python twin of acpo's answer extraction and task verifiers (runtime/engine/tasks/answer.ts,
expr.ts, verifiers.ts): the same verdicts, rewards and reasons, character for character,
on every string (test/export/golden-parity.test.ts holds them to the TypeScript ones on
shared golden vectors). Each verifier reads the LAST complete <answer>...</answer> and never
raises, whatever the text. Never eval: the text comes from a policy under optimisation
pressure. Standard library only.
"""
import math
import re

from .jsstr import js_json_string, js_number, js_trim, text_of, units

ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
# The transition words acpo's traces begin their steps with (segmentation's default markers).
TRACE_MARKERS = ("First", "Then", "Next", "Finally", "So", "Thus")
COUNTDOWN_TOLERANCE = 1e-5
MAX_DEPTH = 64
_MAX_DIGITS = 15
_NO_ANSWER = "no complete <answer>...</answer> in the response"


def extract_answer_units(u):
    """extractAnswer on a unit string: {start, end, content_start, content_end, text (unit string)} or None."""
    close = u.rfind(ANSWER_CLOSE)
    if close < 0:
        return None
    # lastIndexOf(open, close - len(open)): an occurrence starting at or before that index (clamped to 0).
    from_index = max(close - len(ANSWER_OPEN), 0)
    open_ = u.rfind(ANSWER_OPEN, 0, from_index + len(ANSWER_OPEN))
    if open_ < 0 or open_ + len(ANSWER_OPEN) > close:
        return None
    cs = open_ + len(ANSWER_OPEN)
    return {"start": open_, "end": close + len(ANSWER_CLOSE), "content_start": cs, "content_end": close, "text": u[cs:close]}


def extract_answer(response):
    """The last complete answer of `response`, offsets in UTF-16 code units (as acpo's), text as str; or None."""
    m = extract_answer_units(units(response))
    if m is None:
        return None
    return {**m, "text": text_of(m["text"])}


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


def parse_decimal_units(u):
    t = js_trim(u)
    if not _DECIMAL.match(t):
        return None
    v = float(t)
    return v if math.isfinite(v) else None


def parse_decimal(s):
    """A plain decimal number (optional sign, fraction, exponent; ASCII digits), or None."""
    return parse_decimal_units(units(s))


class _Fail(Exception):
    pass


def _is_digit(c):
    return c is not None and "0" <= c <= "9"


def _is_eq_space(c):
    return c is not None and c in " \t\n\r"


def parse_equation_units(src):
    """parseEquation: (True, expr, numbers) or (False, reason). expr: float, or (op, left, right)."""
    for i, c in enumerate(src):
        if not (_is_digit(c) or _is_eq_space(c) or c in "+-*/()"):
            return (False, f"illegal character {js_json_string(c)} at {i}")
    pos = 0
    numbers = []
    at = lambda: src[pos] if pos < len(src) else None

    def skip():
        nonlocal pos
        while pos < len(src) and _is_eq_space(src[pos]):
            pos += 1

    def fail(what):
        raise _Fail(f"{what} at {pos}, found {js_json_string(src[pos])}" if pos < len(src) else f"{what} at end of input")

    def factor(depth):
        nonlocal pos
        skip()
        c = at()
        if c == "(":
            if depth >= MAX_DEPTH:
                fail(f"parentheses nested deeper than {MAX_DEPTH}")
            pos += 1
            e = expr(depth + 1)
            skip()
            if at() != ")":
                fail("expected ')'")
            pos += 1
            return e
        if _is_digit(c):
            start = pos
            while pos < len(src) and _is_digit(src[pos]):
                pos += 1
            lit = src[start:pos]
            if len(lit) > 1 and lit[0] == "0":
                pos = start
                fail(f"number with a leading zero ({lit})")
            if len(lit) > _MAX_DIGITS:
                pos = start
                fail(f"number longer than {_MAX_DIGITS} digits")
            value = float(lit)
            numbers.append(value)
            return value
        fail("expected a number or '('")

    def term(depth):
        nonlocal pos
        left = factor(depth)
        while True:
            skip()
            c = at()
            if c not in ("*", "/"):
                return left
            pos += 1
            left = (c, left, factor(depth))

    def expr(depth):
        nonlocal pos
        left = term(depth)
        while True:
            skip()
            c = at()
            if c not in ("+", "-"):
                return left
            pos += 1
            left = (c, left, term(depth))

    try:
        e = expr(0)
        skip()
        if pos < len(src):
            fail("unexpected input")
        return (True, e, numbers)
    except _Fail as err:
        return (False, str(err))


def evaluate(e):
    """(True, value) in float64, or (False, reason); x / 0 is an error, not inf."""
    if isinstance(e, float):
        return (True, e)
    op, l, r = e
    lv = evaluate(l)
    if not lv[0]:
        return lv
    rv = evaluate(r)
    if not rv[0]:
        return rv
    a, b = lv[1], rv[1]
    if op == "+":
        return (True, a + b)
    if op == "-":
        return (True, a - b)
    if op == "*":
        return (True, a * b)
    if b == 0:
        return (False, "division by zero")
    return (True, a / b)


def _verdict(reward, correct, answer_units, reason_units):
    return {"reward": reward, "correct": correct, "answer": None if answer_units is None else text_of(answer_units), "reason": text_of(reason_units)}


def _wrong(answer, reason, format_reward):
    return _verdict(0 if answer is None else format_reward, False, answer, reason)


def _sorted_key(xs):
    return "[" + ", ".join(js_number(x) for x in sorted(xs)) + "]"


def verify_countdown(numbers, target, response, format_reward=0):
    """Countdown: an equation over digits, + - * / ( ) and whitespace using exactly the given
    multiset of numbers, within 1e-5 of the target. {reward, correct, answer, reason}."""
    m = extract_answer_units(units(response))
    if m is None:
        return _wrong(None, _NO_ANSWER, format_reward)
    answer = js_trim(m["text"])
    if answer == "":
        return _wrong(answer, "empty answer", format_reward)
    parsed = parse_equation_units(answer)
    if not parsed[0]:
        return _wrong(answer, f"not an equation: {parsed[1]}", format_reward)
    used, given = _sorted_key(parsed[2]), _sorted_key(numbers)
    if used != given:
        return _wrong(answer, f"uses numbers {used}, must use exactly {given}", format_reward)
    v = evaluate(parsed[1])
    if not v[0]:
        return _wrong(answer, v[1], format_reward)
    if not (abs(v[1] - target) < COUNTDOWN_TOLERANCE):
        return _wrong(answer, f"equals {js_number(v[1])}, target {js_number(target)}", format_reward)
    return _verdict(1, True, answer, "correct")


def verify_numeric(expected, response, tolerance, format_reward=0):
    """Numeric (arith): a plain decimal number with |value - expected| <= tolerance."""
    m = extract_answer_units(units(response))
    if m is None:
        return _wrong(None, _NO_ANSWER, format_reward)
    answer = js_trim(m["text"])
    v = parse_decimal_units(answer)
    if v is None:
        return _wrong(answer, "empty answer" if answer == "" else "not a number", format_reward)
    if not (abs(v - expected) <= tolerance):
        return _wrong(answer, f"got {js_number(v)}, expected {js_number(expected)}", format_reward)
    return _verdict(1, True, answer, "correct")


def verify_exact(expected, response, format_reward=0):
    """Exact: the trimmed answer equals the trimmed expected string."""
    m = extract_answer_units(units(response))
    if m is None:
        return _wrong(None, _NO_ANSWER, format_reward)
    answer = js_trim(m["text"])
    exp = js_trim(units(expected))
    if answer != exp:
        return _wrong(answer, f"got {js_json_string(answer)}, expected {js_json_string(exp)}", format_reward)
    return _verdict(1, True, answer, "correct")
