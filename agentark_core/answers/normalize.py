"""Answer-string normalisation and the fast numeric path of grading (paper §3.2, answer verification).

Pure string work, no sympy: this is what makes grading the common case (an integer,
a decimal, a fraction, a percentage) cost microseconds. ``normalize_math`` turns a
final answer such as ``"$1{,}000$ dollars"`` or ``"\\dfrac{3}{4}\\text{ cm}"`` into a
canonical string (``"1000"``, ``"\\frac{3}{4}"``); ``parse_number`` turns a canonical
string into an exact :class:`fractions.Fraction` when it is a plain number.

Example:
    >>> parse_number(normalize_math("$1,000$ dollars"))
    Number(value=Fraction(1000, 1), percent=False)
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from fractions import Fraction

MAX_ANSWER_CHARS = 2_000  # a longer "answer" is compared as written, never normalised
MAX_NUMBER_DIGITS = 1000  # longer digit runs are never converted (int() of huge strings is slow)

_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_SPACING = re.compile(r"\\left|\\right|(?<!\\)\\[!,;: ]|\\displaystyle|~")
_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree")
_CURRENCY = re.compile(r"\\\$|[$€£¥₹]|\b(?:usd|dollars?|euros?|cents?)\b", re.IGNORECASE)
_UNIT_WORDS = (
    "cm|mm|km|m|kg|mg|g|lbs?|pounds?|oz|ounces?|ft|feet|foot|inch(?:es)?|yards?|miles?|meters?|metres?"
    "|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|degrees?|units?|square|sq|cubic"
    "|mph|liters?|litres?|ml|gallons?|people|persons?|students?|times|percent"
)
# One unit word (optionally squared/cubed) at the very end of a short window: applied repeatedly from the
# right by ``strip_trailing_units``, never as a repeated group over the whole string (that backtracked).
_LAST_UNIT = re.compile(rf"(?:^|(?<=[\s\d}}.]))(?:{_UNIT_WORDS})(?:\^\s*\{{?\d\}}?|[²³])?$", re.IGNORECASE)
_UNIT_WINDOW = 24  # longer than any unit word with its exponent
_PAREN_WORDS = re.compile(r"(?<=\d)\s+\([a-zA-Z ]{0,30}\)$")  # "18 (dollars)"
_SPACED_MINUS = re.compile(r"^-\s+")
_NUMBER_THEN_WORDS = re.compile(r"^([-+]?\d[\d,]*(?:\.\d+)?%?)\s+[a-zA-Z][a-zA-Z\s]*$")
_ASSIGNMENT = re.compile(r"^[a-zA-Z]\w{0,2}\s*=\s*(?=[^=]+$)")
_EMPHASIS = re.compile(r"^[*_\s]+|(?<![*_\s])[*_\s]+$")
_LATEX_THOUSANDS = re.compile(r"(?<!\s)\s*\{\s*,\s*\}\s*|,\\!\s*")  # "1{,}000", "14 {, }916", "11,\! 111"
_SPACED_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(?:(?:,| )\d{3})+(?:\.\d+)?%?$")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")
_PLAIN_NUMBER = re.compile(r"^([-+]?)(\d*)(?:\.(\d*))?(%?)$")
_PLAIN_FRACTION = re.compile(r"^([-+]?)(\d+)\s*/\s*(\d+)(%?)$")
_LATEX_FRACTION = re.compile(r"^([-+]?)\\frac\s*(?:\{\s*(\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))(%?)$")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT_TABLE = str.maketrans("", "", string.punctuation.replace(".", "").replace("-", ""))
_LOOSE_DOTS_DASHES = re.compile(r"(?<!\d)\.|\.(?!\d)|-(?!\d)|(?<=\w)-")
# Already canonical: every rule of ``normalize_math`` leaves these unchanged (the common answer).
CANONICAL_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_ASCII_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class Number:
    """An exact number read from an answer string; ``percent`` is True when written with ``%``."""

    value: Fraction
    percent: bool = False


def strip_delimiters(s: str) -> str:
    """Remove one pair of surrounding math delimiters (``$…$``, ``\\(…\\)``, ``\\[…\\]``) and whitespace."""
    s = s.strip()
    for left, right in _DELIMITERS:
        if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


def normalize_math(s: str) -> str:
    """Canonical form of a math final answer: units, currency, spacing and thousands separators removed.

    Args:
        s: an extracted final answer (not a whole response).

    Returns:
        The canonical string; ``""`` when nothing is left.
    """
    if CANONICAL_NUMBER.fullmatch(s):
        return s  # fast path: a plain integer or decimal is its own canonical form
    s = strip_delimiters(s.replace("−", "-").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    if len(s) > MAX_ANSWER_CHARS:
        return s  # no canonical form: too long to be one answer (and kept out of every regex below)
    s = _LATEX_THOUSANDS.sub(",", s)
    s = _SPACING.sub("", s)
    s = _TEXT_WRAPPERS.sub(r" \1 ", s)
    s = _DEGREES.sub("", s)
    s = _CURRENCY.sub("", s)
    s = _EMPHASIS.sub("", s.replace("\\%", "%"))  # markdown bold/underline around the answer
    s = s.replace("**", "^")
    s = s.strip().rstrip(".").strip()
    s = _PAREN_WORDS.sub("", s)
    s = strip_trailing_units(s)
    words = _NUMBER_THEN_WORDS.match(s)
    if words:
        s = words.group(1)
    s = s.removeprefix("+")
    s = _SPACED_MINUS.sub("-", s)
    if _SPACED_THOUSANDS.match(s):
        s = s.replace(",", "").replace(" ", "")
    assigned = _ASSIGNMENT.sub("", s)
    if assigned != s and parse_number(assigned) is not None:
        s = assigned  # "x = 5" is the value 5; "y = 2x + 3" stays an equation
    return s.strip()


def strip_trailing_units(s: str) -> str:
    """``s`` without the unit words that follow its number ("5 cm", "12 square feet", "3 m^2").

    Linear time on any input: each step looks only at a short window at the end of the string.
    Units are removed only when what is left ends in a digit, ``}`` or ``.`` (so "cm" alone stays).
    """
    rest = s.rstrip()
    while rest:
        m = _LAST_UNIT.search(rest[-_UNIT_WINDOW:])
        if not m:
            break
        rest = rest[: len(rest) - (len(m.group(0)))].rstrip()
    return rest if rest and rest[-1] in "0123456789}." and rest != s.rstrip() else s.strip()


def decimal_comma(s: str) -> Number | None:
    """A number written with a decimal comma ("1000,99", "0,111"), or None (read only when the other side
    of a comparison has a decimal point, since "1,5" is otherwise a list)."""
    return parse_number(s.replace(",", ".")) if _DECIMAL_COMMA.match(s) else None


def parse_number(s: str) -> Number | None:
    """Read a canonical answer string as an exact number, or None when it is not a plain number.

    Accepts integers, decimals, ``a/b``, ``\\frac{a}{b}`` and a trailing ``%``; digit runs longer
    than ``MAX_NUMBER_DIGITS`` are refused (None) so huge inputs never reach ``int()``.
    """
    if len(s) > 2 * MAX_NUMBER_DIGITS + 16:
        return None
    if _ASCII_INTEGER.fullmatch(s) and len(s) <= MAX_NUMBER_DIGITS:
        return Number(Fraction(int(s)))  # fast path: the same value the decimal route below reads
    m = _PLAIN_NUMBER.match(s)
    if m:
        sign, whole, frac, pct = m.groups()
        if not whole and not frac or len(whole) + len(frac or "") > MAX_NUMBER_DIGITS:
            return None
        digits = f"{whole or '0'}.{frac or '0'}"
        value = Fraction(digits)
        return Number(-value if sign == "-" else value, bool(pct))
    m = _PLAIN_FRACTION.match(s) or _LATEX_FRACTION.match(s)
    if not m:
        return None
    groups = [g for g in m.groups()[1:-1] if g]
    sign, pct = m.group(1), m.groups()[-1]
    if any(len(g) > MAX_NUMBER_DIGITS for g in groups):
        return None
    numerator, denominator = int(groups[0]), int(groups[1])
    if denominator == 0:
        return None
    value = Fraction(numerator, denominator)
    return Number(-value if sign == "-" else value, bool(pct))


def numbers_equal(gold: Number, pred: Number) -> bool:
    """Exact equality, reading a percentage on either side as itself or as a ratio (50% == 50 == 0.5)."""
    if gold.value == pred.value:
        return True
    if gold.percent != pred.percent:
        pct, plain = (gold, pred) if gold.percent else (pred, gold)
        return pct.value / 100 == plain.value
    return False


def normalize_short(s: str) -> str:
    """SQuAD-style normalisation of a short answer: lower-case, no punctuation, no articles, single spaces.

    Decimal points and minus signs of numbers survive ("-3.5" stays "-3.5"), so numbers keep their value.
    """
    s = _LOOSE_DOTS_DASHES.sub("", strip_delimiters(s).lower().translate(_PUNCT_TABLE))
    return " ".join(_ARTICLES.sub(" ", s).split())
