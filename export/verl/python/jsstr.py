"""JavaScript string and number semantics, so the Python twins of acpo's TypeScript
segmentation and verifiers agree with them character for character.

acpo's TypeScript counts character offsets in UTF-16 code units, tests word characters and
whitespace one code unit at a time, and formats numbers and strings as JavaScript does
(`${x}`, JSON.stringify). The twins therefore work on "unit strings": Python strings with
one character per UTF-16 code unit (a character outside the BMP becomes its two surrogate
halves). `units` and `text_of` convert; the twins take and return ordinary Python strings.
Needs only the standard library.
"""
import math
import unicodedata

# JavaScript's \s (and String.prototype.trim): WhiteSpace and LineTerminator code points.
JS_SPACE = frozenset("\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")


def units(s):
    """The unit string of `s`: one character per UTF-16 code unit (lone surrogates kept)."""
    b = s.encode("utf-16-le", "surrogatepass")
    return "".join(chr(b[i] | (b[i + 1] << 8)) for i in range(0, len(b), 2))


def text_of(u):
    """The Python string of a unit string: surrogate pairs joined, lone surrogates kept."""
    return u.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def is_space(c):
    """JavaScript's /\\s/.test(c) for one code unit (None: past the end)."""
    return c is not None and c in JS_SPACE


def is_word_char(c):
    """JavaScript's /[\\p{L}\\p{N}_]/u.test(c) for one code unit: a surrogate half is neither."""
    return c is not None and (c == "_" or unicodedata.category(c)[0] in "LN")


def js_trim(u):
    """String.prototype.trim on a unit string."""
    i, j = 0, len(u)
    while i < j and u[i] in JS_SPACE:
        i += 1
    while j > i and u[j - 1] in JS_SPACE:
        j -= 1
    return u[i:j]


def js_lower(u):
    """String.prototype.toLowerCase on a unit string (full Unicode mapping, as a unit string)."""
    return units(text_of(u).lower())


def js_number(x):
    """`${x}` for a JavaScript number (Number::toString): shortest round-trip digits, then
    JavaScript's choice between plain and exponential notation."""
    x = float(x)
    if x != x:
        return "NaN"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number(-x)
    if math.isinf(x):
        return "Infinity"
    mant, _, exp = repr(x).partition("e")
    ip, _, fp = mant.partition(".")
    raw = ip + fp
    lead = len(raw) - len(raw.lstrip("0"))
    digits = raw.lstrip("0").rstrip("0")
    n = len(ip) + (int(exp) if exp else 0) - lead  # value = 0.digits * 10^n
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def js_json_string(u):
    """JSON.stringify of a unit string (well-formed: lone surrogates escaped), as a Python string."""
    out = ['"']
    i = 0
    while i < len(u):
        c = u[i]
        o = ord(c)
        if 0xD800 <= o <= 0xDBFF and i + 1 < len(u) and 0xDC00 <= ord(u[i + 1]) <= 0xDFFF:
            out.append(text_of(u[i : i + 2]))
            i += 2
            continue
        if c in _ESC:
            out.append(_ESC[c])
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF:
            out.append("\\u%04x" % o)
        else:
            out.append(c)
        i += 1
    out.append('"')
    return "".join(out)
