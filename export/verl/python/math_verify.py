"""Python twin of acpo's math verifier (runtime/engine/tasks/math-answer.ts, math-normalize.ts,
math-equal.ts, verifiers.ts verifyMath / referenceAnswer): the final answer of a response
(<answer> tag, a \\boxed{} inside it winning, else the last \\boxed{} / \\fbox{}, else the
last "the answer is ..." sentence), normalised, compared as strings, then by structure
(intervals, tuples, sets, solution lists, "x = 5"), then by value.

Everything up to the value comparison is a line-for-line port working on UTF-16 unit
strings (jsstr.py), so offsets, lengths and JavaScript's whitespace agree exactly. The value
comparison differs in one place: acpo parses LaTeX with @cortex-js/compute-engine and
evaluates the MathJSON in float64; this twin parses the same whitelisted school-algebra
LaTeX (the same `parseable` gate) with its own recursive-descent parser of the common
forms (numbers, + - * / ^, \\frac, \\sqrt, \\sqrt[n], \\cdot, \\times, \\div, implicit
products, !, |x|, \\pi, \\infty, named functions, variables) and evaluates it at the same
sample points with the same tolerance. Where compute-engine reads a form differently or this
parser does not read it, the verdicts can differ: test/export/fixtures/golden/math.json
lists the known cases ("differences"), and the parity test holds both lists true.
Standard library only; never eval.
"""
import math
import re

from .jsstr import JS_SPACE, js_json_string, js_lower, js_trim, text_of, units
from .verifiers import extract_answer_units

MAX_MATH_CHARS = 400
MAX_MATH_DEPTH = 24
MATH_RTOL = 1e-9
MAX_NORMALIZE_CHARS = 2000
MAX_PARSE_CHARS = 120
_BOX_COMMANDS = ("\\boxed", "\\fbox")
_MAX_BOX_TRIES = 8


# ---- extraction (answer.ts lastBoxedSpan, matchingBrace; math-answer.ts) ----

def matching_brace(u, open_):
    depth = 0
    i = open_
    while i < len(u):
        c = u[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _last_box_command(u, frm):
    at, cmd = -1, ""
    if frm < 0:
        return at, cmd
    for c in _BOX_COMMANDS:
        i = u.rfind(c, 0, frm + len(c))  # lastIndexOf(c, frm): a start at or before frm
        if i > at:
            at, cmd = i, c
    return at, cmd


def _boxed_group_at(u, p):
    if p < len(u) and u[p] == "{":
        close = matching_brace(u, p)
        return None if close < 0 else u[p + 1:close]
    if p < len(u) and u[p] == " ":
        e = p + 1
        while e < len(u) and u[e] not in (" ", "$", "\n"):
            e += 1
        return u[p + 1:e] if e > p + 1 else None
    return None


def last_boxed(u):
    """Content of the last complete \\boxed{...} / \\fbox{...} (or "\\boxed 5"), or None."""
    at, cmd = _last_box_command(u, len(u))
    tries = 0
    while at >= 0 and tries < _MAX_BOX_TRIES:
        g = _boxed_group_at(u, at + len(cmd))
        if g is not None:
            return g
        at, cmd = _last_box_command(u, at - 1)
        tries += 1
    return None


def _answer_is_sentence(u):
    lower = js_lower(u)
    at = lower.rfind("answer is")
    if at < 0:
        return None
    s = at + len("answer is")
    if s < len(u) and u[s] == ":":
        s += 1
    e, dollars = s, 0
    while e < len(u):
        c = u[e]
        if c == "$":
            dollars += 1
        if c == "\n":
            break
        if c == "." and dollars % 2 == 0 and (e + 1 == len(u) or u[e + 1] == " "):
            break
        e += 1
    text = js_trim(u[s:e])
    return None if text == "" else text


def extract_math_answer(u):
    """(text, how) of a unit string's final answer, or None."""
    tag = extract_answer_units(u)
    if tag is not None:
        boxed = last_boxed(tag["text"])
        return (boxed if boxed is not None else tag["text"]), "answer tag"
    boxed = last_boxed(u)
    if boxed is not None:
        return boxed, "boxed"
    said = _answer_is_sentence(u)
    return None if said is None else (said, "answer is")


# ---- normalisation (math-normalize.ts) ----

_SPACING = ["\\displaystyle", "\\textstyle", "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\ ", "~"]
_FRAC_ALIASES = [("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\dbinom", "\\binom"), ("\\tbinom", "\\binom")]
_DEGREES = ["^{\\circ}", "^\\circ", units("°"), "\\degree", "{}^\\circ"]
_TEXT_COMMANDS = ["\\text", "\\textbf", "\\textrm", "\\textit", "\\mathrm", "\\mathbf", "\\mbox"]
_UNITS = {
    "cm", "m", "km", "mm", "in", "inch", "inches", "ft", "feet", "foot", "yd", "yard", "yards", "mi", "mile", "miles", "meter", "meters", "metre", "metres",
    "kg", "g", "gram", "grams", "lb", "lbs", "pound", "pounds", "oz", "ounce", "ounces", "l", "ml", "liter", "liters", "litre", "litres", "gallon", "gallons",
    "s", "sec", "second", "seconds", "min", "minute", "minutes", "h", "hr", "hour", "hours", "day", "days", "week", "weeks", "year", "years",
    "dollar", "dollars", "cent", "cents", "unit", "units", "degree", "degrees", "square", "sq", "cubic", "mph",
}
_CONNECTIVES = {"or", "and", "not", "no", "to", "times", "plus", "minus", "over", "less", "more", "than", "of", "per", "squared", "cubed", "percent"}
_WS_RUN = re.compile("[" + "".join(re.escape(c) for c in sorted(JS_SPACE)) + "]+")


def _squash(u):
    """JavaScript's s.replace(/\\s+/g, " ")."""
    return _WS_RUN.sub(" ", u)


def _replace_all(u, pairs):
    for a, b in pairs:
        u = b.join(u.split(a))
    return u


def _strip_math_delimiters(u):
    for op, cl in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(u) >= len(op) + len(cl) and u.startswith(op) and u.endswith(cl):
            return js_trim(u[len(op):len(u) - len(cl)])
    return u


_DIGIT = re.compile("[0-9]")


def _strip_text_commands(u):
    for _ in range(64):
        hit = None
        for cmd in _TEXT_COMMANDS:
            i = u.find(cmd + "{")
            if i >= 0 and (hit is None or i < hit[0]):
                hit = (i, cmd)
        if hit is None:
            return u
        open_ = hit[0] + len(hit[1])
        close = matching_brace(u, open_)
        if close < 0:
            return u
        inner = u[open_ + 1:close]
        rest = js_trim(u[:hit[0]] + u[close + 1:])
        keep = rest == "" or not _DIGIT.search(rest) or _DIGIT.search(inner)
        u = u[:hit[0]] + inner + u[close + 1:] if keep else rest
    return u


_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(?:[, ][0-9]{3})+(?:\.[0-9]+)?\Z")


def _strip_thousands(u):
    return re.sub("[, ]", "", u) if _THOUSANDS.match(u) else u


_ALPHA_SPACE = re.compile("[a-zA-Z ]")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_PLAIN = re.compile(r"[+-]?[0-9][0-9,]*(?:\.[0-9]+)?\Z")
_WORD = re.compile(r"[a-z]{2,}\Z")


def _trim_end_js(u):
    """trimEnd: JavaScript whitespace only at the end."""
    j = len(u)
    while j > 0 and u[j - 1] in JS_SPACE:
        j -= 1
    return u[:j]


def _strip_unit_words(u):
    i = len(u)
    while i > 0 and _ALPHA_SPACE.match(u[i - 1]):
        i -= 1
    head = _trim_end_js(u[:i])
    words = [w for w in js_lower(js_trim(u[i:])).split(" ") if w != ""]
    if not words or not re.search("[0-9}]\\Z", head) or head.endswith("\\") or re.search("[a-zA-Z]", _COMMAND.sub("", head)):
        return u
    if all(w in _UNITS for w in words):
        return head
    plain = _PLAIN.match(head) is not None
    return head if plain and all(_WORD.match(w) and w not in _CONNECTIVES for w in words) else u


def _trim_end_of(u, chars):
    e = len(u)
    while e > 0 and u[e - 1] in chars:
        e -= 1
    return u[:e]


def normalize_math(raw):
    """normalizeMath on a unit string."""
    s = js_trim(raw)
    if len(s) > MAX_NORMALIZE_CHARS:
        return s
    s = _strip_math_delimiters(s)
    if s.startswith("\\boxed") or s.startswith("\\fbox"):
        b = last_boxed(s)
        s = b if b is not None else s
    s = _squash(s)
    s = _replace_all(s, _FRAC_ALIASES)
    s = _replace_all(s, [(d, "") for d in _DEGREES])
    s = _replace_all(s, [("\\%", "%"), ("\\$", ""), ("$", ""), ("{,}", ","), ("\\cdotp", ".")])
    s = _strip_text_commands(s)
    s = js_trim(_squash(_replace_all(s, [(c, " ") for c in _SPACING])))
    for _ in range(4):
        before = s
        s = _trim_end_of(s, ". ")
        if len(s) >= 2 and s[0] == "+" and s[1] in "0123456789":
            s = s[1:]
        s = _strip_unit_words(s)
        s = _strip_thousands(s)
        if s == before:
            break
    return s


def math_key(u):
    return _WS_RUN.sub("", u)


# ---- structure (math-equal.ts) ----

def _split_top(s, sep):
    out, depth, start, i = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            out.append(js_trim(s[start:i]))
            start = i + len(sep)
            i += len(sep)
            continue
        i += 1
    out.append(js_trim(s[start:]))
    return out


def _enclosed(s):
    depth = 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth == 0 and i < len(s) - 1:
            return False
    return depth == 0


def _shape_of(s):
    union = _split_top(s, "\\cup")
    if len(union) > 1:
        return ("union", union)
    if len(s) >= 4 and s.startswith("\\{") and s.endswith("\\}"):
        return ("collection", [x for x in _split_top(s[2:-2], ",") if x != ""])
    eq = _split_top(s, "=")
    if len(eq) == 2 and eq[0] != "" and eq[1] != "":
        return ("equation", eq[0], eq[1])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        t = s
        if t.startswith("["):
            t = "(" + t[1:]
        if t.endswith("]"):
            t = t[:-1] + ")"
        if _enclosed(t):
            items = _split_top(s[1:-1], ",")
            if len(items) >= 2:
                return ("bracketed", s[0], s[-1], items)
    lst = _split_top(s, ",")
    if len(lst) >= 2:
        return ("collection", lst)
    return ("scalar", s)


_VARIABLE = re.compile(r"(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?\Z")


def _render(sh):
    k = sh[0]
    if k == "scalar":
        return sh[1]
    if k == "bracketed":
        return sh[1] + ",".join(sh[3]) + sh[2]
    if k == "collection":
        return ",".join(sh[1])
    if k == "union":
        return "\\cup".join(sh[1])
    return sh[1] + "=" + sh[2]


def _same_multiset(a, b, eq):
    if len(a) != len(b) or len(a) > 32:
        return False
    used = [False] * len(b)
    for x in a:
        j = next((k for k, y in enumerate(b) if not used[k] and eq(x, y)), -1)
        if j < 0:
            return False
        used[j] = True
    return True


def _shapes_equal(a, b, level):
    if level > 4:
        return False

    def sub(x, y):
        return math_key(x) == math_key(y) or _shapes_equal(_shape_of(x), _shape_of(y), level + 1)

    if a[0] == "equation" and b[0] == "equation":
        return (sub(a[1], b[1]) and sub(a[2], b[2])) or (sub(a[1], b[2]) and sub(a[2], b[1]))
    if a[0] == "equation":
        return _VARIABLE.match(a[1]) is not None and sub(a[2], _render(b))
    if b[0] == "equation":
        return _VARIABLE.match(b[1]) is not None and sub(_render(a), b[2])
    if a[0] == "union" and b[0] == "union":
        return _same_multiset(a[1], b[1], sub)
    if a[0] == "bracketed" and b[0] == "bracketed":
        return a[1] == b[1] and a[2] == b[2] and len(a[3]) == len(b[3]) and all(sub(x, y) for x, y in zip(a[3], b[3]))
    if a[0] == "collection" and b[0] == "collection":
        return _same_multiset(a[1], b[1], sub)
    if a[0] == "scalar" and b[0] == "scalar":
        return _scalars_equal(a[1], b[1])
    return False


def _depth_of(s):
    d = mx = 0
    for c in s:
        if c in "([{":
            d += 1
            mx = max(mx, d)
        elif c in ")]}":
            d -= 1
    return mx


def math_equal(expected, given):
    """mathEqual on unit strings."""
    a, b = normalize_math(expected), normalize_math(given)
    if math_key(a) == math_key(b):
        return True
    if len(a) > MAX_MATH_CHARS or len(b) > MAX_MATH_CHARS or _depth_of(a) > MAX_MATH_DEPTH or _depth_of(b) > MAX_MATH_DEPTH:
        return False
    return _shapes_equal(_shape_of(a), _shape_of(b), 0)


def _scalars_equal(x, y):
    px, py = x.endswith("%"), y.endswith("%")
    ex, ey = (x[:-1] if px else x), (y[:-1] if py else y)
    if px == py:
        return _values_equal(ex, ey, 1)
    pct, plain = (ex, ey) if px else (ey, ex)
    return _values_equal(pct, plain, 1) or _values_equal(pct, plain, 100)


# ---- values: the twin's own LaTeX reader (where it may differ from compute-engine) ----

_PARSE_COMMANDS = {"frac", "sqrt", "pi", "cdot", "times", "div", "infty", "ln", "log", "exp", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "theta", "alpha", "beta", "gamma", "lfloor", "rfloor", "lceil", "rceil", "pm", "mp"}
_PARSEABLE = re.compile(r"[0-9a-zA-Z+\-*/^_(){}\[\].,!|' \\]*\Z")
_CMD = re.compile(r"\\([a-zA-Z]+|.)", re.S)


def parseable(latex):
    if len(latex) > MAX_PARSE_CHARS or not _PARSEABLE.match(latex):
        return False
    return all(m.group(1) in _PARSE_COMMANDS for m in _CMD.finditer(latex))


_FUNCS = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "cot": lambda x: 1 / math.tan(x), "sec": lambda x: 1 / math.cos(x), "csc": lambda x: 1 / math.sin(x),
    "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "ln": math.log, "exp": math.exp, "log": math.log10,
}
_GREEK = {"theta", "alpha", "beta", "gamma"}


class _NoParse(Exception):
    pass


class _Reader:
    """Recursive descent over the tokens of whitelisted LaTeX into a tree:
    ("num", v) | ("var", name) | ("const", name) | (op, *args)."""

    def __init__(self, s):
        self.toks = re.findall(r"\\[a-zA-Z]+|\\.|[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?|[a-zA-Z]|\S", s)
        self.i = 0
        self.bars = 0  # open |...| groups: inside one, "|" closes it rather than starting a product

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want=None):
        t = self.peek()
        if t is None or (want is not None and t != want):
            raise _NoParse()
        self.i += 1
        return t

    def whole(self):
        e = self.expr()
        if self.peek() is not None:
            raise _NoParse()
        return e

    def expr(self):
        e = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            e = ("add" if op == "+" else "sub", e, self.term())
        return e

    def term(self):
        e = self.product()
        while True:
            t = self.peek()
            if t in ("*", "\\cdot", "\\times"):
                self.take()
                e = ("mul", e, self.product())
            elif t in ("/", "\\div"):
                self.take()
                e = ("div", e, self.product())
            else:
                return e

    def product(self):
        """Implicit products bind tighter than * and / (compute-engine: 1/2x is 1/(2x))."""
        e = self.unary()
        while self.peek() is not None and self.starts_primary(self.peek()):
            e = ("mul", e, self.power())
        return e

    def starts_primary(self, t):
        return t[0].isdigit() or t[0] == "." or t.isalpha() or t in ("(", "{") or (t == "|" and self.bars == 0) or (t.startswith("\\") and t[1:] in _PARSE_COMMANDS - {"cdot", "times", "div", "pm", "mp", "rfloor", "rceil"})

    def unary(self):
        if self.peek() == "-":
            self.take()
            return ("neg", self.unary())
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self):
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            return ("pow", base, self.exponent())
        return base

    def _first_digit(self):
        """A digit token's first digit (TeX reads x^23 as x^2 3 and \\frac12 as \\frac{1}{2})."""
        t = self.take()
        if not t[0].isdigit():
            raise _NoParse()
        if len(t) > 1:
            self.toks.insert(self.i, t[1:])
        return ("num", float(t[0]))

    def exponent(self):
        t = self.peek()
        if t == "{":
            return self.group()
        if t == "-":
            self.take()
            return ("neg", self.exponent())
        if t is not None and (t[0].isdigit() or t[0] == "."):
            return self._first_digit()
        return self.postfix()

    def postfix(self):
        e = self.primary()
        while self.peek() == "!":
            self.take()
            if self.peek() == "!":
                self.take()
                e = ("fact2", e)  # a double factorial: no value in acpo's evaluator
            else:
                e = ("fact", e)
        return e

    def group(self):
        self.take("{")
        e = self.expr()
        self.take("}")
        return e

    def arg(self):
        """A command's argument: {group} or one token (\\frac12)."""
        t = self.peek()
        if t == "{":
            return self.group()
        if t is not None and (t[0].isdigit() or t[0] == "."):
            return self._first_digit()
        return self.primary()

    def primary(self):
        t = self.take()
        if t[0].isdigit() or t[0] == ".":
            if t.isdigit() and self.peek() == "\\frac":
                # 1\\frac{1}{2} is the mixed number 1 + 1/2 when both parts are whole numbers.
                f = self.primary()
                if f[0] == "div" and f[1][0] == "num" and f[2][0] == "num" and f[1][1] == int(f[1][1]) and f[2][1] == int(f[2][1]):
                    return ("add", ("num", float(t)), f)
                return ("mul", ("num", float(t)), f)
            return ("num", float(t))
        if t == "e":
            return ("const", "e")
        if t.isalpha() and len(t) == 1:
            name = t
            if self.peek() == "_":
                # compute-engine reads y_1 as a subscript, which acpo's evaluator gives no value.
                self.take()
                return ("subscript", name, self._subscript())
            return ("var", name)
        if t == "(":
            e = self.expr()
            self.take(")")
            return e
        if t == "{":
            e = self.expr()
            self.take("}")
            return e
        if t == "|":
            self.bars += 1
            e = self.expr()
            self.take("|")
            self.bars -= 1
            return ("abs", e)
        cmd = t[1:] if t.startswith("\\") else None
        if cmd == "frac":
            return ("div", self.arg(), self.arg())
        if cmd == "sqrt":
            if self.peek() == "[":
                self.take("[")
                n = self.expr()
                self.take("]")
                return ("root", self.arg(), n)
            return ("sqrt", self.arg())
        if cmd == "pi":
            return ("const", "pi")
        if cmd == "infty":
            return ("const", "inf")
        if cmd in _GREEK:
            return ("var", "\\" + cmd)
        if cmd == "lfloor" or cmd == "lceil":
            e = self.expr()
            self.take("\\rfloor" if cmd == "lfloor" else "\\rceil")
            return ("floor" if cmd == "lfloor" else "ceil", e)
        if cmd in _FUNCS:
            if cmd == "log" and self.peek() == "_":
                self.take()
                b = self.arg()
                return ("logb", self.fn_arg(cmd), b)
            return ("fn", cmd, self.fn_arg(cmd))
        raise _NoParse()

    def fn_arg(self, cmd):
        """\\sin(x), or without parentheses the implicit product up to the next function
        (compute-engine: \\sin 2x is sin(2x), \\sin x\\cos x is sin(x) cos(x)); \\exp only with ()."""
        if self.peek() == "(":
            return self.primary()
        if cmd == "exp":
            raise _NoParse()
        e = self.power()
        while self.peek() is not None and self.starts_primary(self.peek()) and not self.peek()[1:] in _FUNCS:
            e = ("mul", e, self.power())
        return e

    def _subscript(self):
        t = self.take()
        if t == "{":
            parts = []
            while self.peek() != "}":
                parts.append(self.take())
            self.take("}")
            return "{" + "".join(parts) + "}"  # y_{1} and y_1 are different MathJSON to acpo
        return t


def _read(latex):
    if not parseable(latex):
        return None
    try:
        return _Reader(text_of(latex)).whole()
    except (_NoParse, RecursionError, ValueError):
        return None


def _free_vars(e, out):
    if e[0] == "var":
        out.append(e[1]) if e[1] not in out else None
    elif e[0] != "subscript":
        for a in e[1:]:
            if isinstance(a, tuple):
                _free_vars(a, out)
    return out


def _factorial(n):
    if not (n == n) or n != math.floor(n) or n < 0:
        return float("nan")
    if n > 170:
        return float("inf")
    f = 1.0
    for i in range(2, int(n) + 1):
        f *= i
    return f


def _js_pow(a, b):
    if b != b:
        return float("nan")
    if b == 0:
        return 1.0
    if a != a:
        return float("nan")
    try:
        r = a ** b
    except ZeroDivisionError:
        return float("inf") if not (b == math.floor(b) and int(b) % 2 == 1 and math.copysign(1, a) < 0) else float("-inf")
    except OverflowError:
        return float("inf") if a > 0 or (b == math.floor(b) and int(b) % 2 == 0) else float("-inf")
    return float("nan") if isinstance(r, complex) else r


def _safe(f, *xs):
    try:
        return f(*xs)
    except (ValueError, ZeroDivisionError):
        return float("nan")
    except OverflowError:
        return float("inf")


def _div(a, b):
    if b == 0:
        if a != a or a == 0:
            return float("nan")
        return math.copysign(float("inf"), a) * math.copysign(1, b)
    return a / b


def _root(x, n):
    if x < 0 and n == math.floor(n) and int(n) % 2 == 1:
        return -_js_pow(-x, 1 / n)
    return _js_pow(x, _div(1, n))


def _apply(e, env, args):
    k = e[0]
    if k == "num":
        return e[1]
    if k == "subscript":
        return float("nan")
    if k == "var":
        return env.get(e[1], float("nan"))
    if k == "const":
        return {"pi": math.pi, "e": math.e}.get(e[1], float("inf"))
    if k == "add":
        return args[0] + args[1]
    if k == "sub":
        return args[0] - args[1]
    if k == "mul":
        return args[0] * args[1]
    if k == "div":
        return _div(args[0], args[1])
    if k == "pow":
        return _js_pow(args[0], args[1])
    if k == "neg":
        return -args[0]
    if k == "sqrt":
        return math.sqrt(args[0]) if args[0] >= 0 else float("nan")
    if k == "root":
        return _root(args[0], args[1])
    if k == "abs":
        return abs(args[0])
    if k == "floor":
        return _safe(math.floor, args[0]) if math.isfinite(args[0]) else args[0]
    if k == "ceil":
        return _safe(math.ceil, args[0]) if math.isfinite(args[0]) else args[0]
    if k == "fact":
        return _factorial(args[0])
    if k == "fact2":
        return float("nan")
    if k == "logb":
        return _div(_safe(math.log, args[0]), _safe(math.log, args[1]))
    if k == "fn":
        return _safe(_FUNCS[e[1]], args[0])
    return float("nan")


def _args(e, env):
    return [_value(a, env) for a in (e[2:] if e[0] == "fn" else e[1:])]


def _value(e, env):
    if e[0] in ("num", "var", "const", "subscript"):
        return _apply(e, env, None)
    args = _args(e, env)
    v = _apply(e, env, args)
    # Overflow is no value, never "infinity": only \\infty is infinite (as acpo's evaluator).
    return float("nan") if (not math.isfinite(v) and v == v and all(math.isfinite(x) for x in args)) else v


_SAMPLE_POINTS = [
    [0.5772156649, 1.3247179572, 2.2360679775, 0.8414709848],
    [1.6180339887, 0.3183098862, 1.2599210499, 2.7041016],
    [2.5029078751, 0.7390851332, 0.4342944819, 1.1319882488],
]


def _close(x, y):
    if not math.isfinite(x) or not math.isfinite(y):
        return x == y
    return abs(x - y) <= MATH_RTOL * max(abs(x), abs(y)) + 1e-12


def _values_equal(a, b, scale_a):
    ja, jb = _read(a), _read(b)
    if ja is None or jb is None:
        return False
    names = _free_vars(jb, _free_vars(ja, []))
    if len(names) > 4:
        return False
    compared = 0
    for point in _SAMPLE_POINTS:
        env = dict(zip(names, point))
        va, vb = _value(ja, env) / scale_a, _value(jb, env)
        if va != va and vb != vb:
            continue
        if not _close(va, vb):
            return False
        compared += 1
    if compared > 0:
        return True
    return scale_a == 1 and ja == jb


# ---- the verifier (verifiers.ts) ----

def reference_answer(expected):
    """The reference answer of a dataset record: after the last "####", else the last \\boxed{}, else the text."""
    u = units(expected)
    h = u.rfind("####")
    if h >= 0:
        return js_trim(u[h + 4:])
    b = last_boxed(u)
    return b if b is not None else js_trim(u)


def verify_math(expected, response, format_reward=0):
    """{reward, correct, answer, reason} as acpo's verifyMath."""
    found = extract_math_answer(units(response))
    if found is None:
        return _verdict(0, False, None, "no final answer (<answer>...</answer>, \\boxed{...} or 'the answer is ...')")
    answer = js_trim(found[0])
    if answer == "":
        return _verdict(format_reward, False, answer, "empty answer")
    reference = reference_answer(expected)
    if not math_equal(reference, answer):
        return _verdict(format_reward, False, answer, f"got {text_of(js_json_string(answer))} ({found[1]}), expected {text_of(js_json_string(reference))}")
    return _verdict(1, True, answer, "correct")


def _verdict(reward, correct, answer_units, reason):
    return {"reward": reward, "correct": correct, "answer": None if answer_units is None else text_of(answer_units), "reason": reason}
