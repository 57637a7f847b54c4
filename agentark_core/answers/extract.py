"""Final-answer extraction from a model response (paper §3.2: verify each agent's *final answer*).

Order of evidence, strongest first: the last ``\\boxed{…}`` (nested braces), a ``####`` line,
"Final Answer: …", "the answer is …", and for math the last number in the text. MCQ answers
become a capital letter: ``(B)``, ``B)``, ``Answer: B`` or the text of one option; a bare
lower-case or article-like ``a`` ("the answer is a dog") is never read as option A.

Only the last ``MAX_TAIL`` characters of a response are searched (final answers come last),
so a 1 MB response costs the same as a 16 kB one; every regex here is linear-time.

Example:
    >>> extract_answer("so x = 3, hence \\\\boxed{\\\\frac{1}{2}}", "math")
    '\\\\frac{1}{2}'
    >>> extract_answer("The answer is (c).", "mcq", ("red", "green", "blue"))
    'C'
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from agentark_core.answers.normalize import (
    CANONICAL_NUMBER,
    normalize_math,
    normalize_short,
    strip_delimiters,
)

MAX_TAIL = 16_000  # characters of a response searched for the final answer
MAX_BOXED = 2_000  # longest \boxed{...} content read
MAX_SHORT_WORDS = 30  # an unanchored short response longer than this has no extractable answer
TASK_TYPES = ("math", "mcq", "short", "longform")
TEXT_TASK_TYPES = ("short", "longform")  # free-text answers (evaluation adds token F1)

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_HASHES = re.compile(r"####[ \t]*([^\n]*\S)")
_FINAL = re.compile(r"final answer(?:\s+is)?\s*[:：]?[ \t]*\n?[ \t]*([^\n]*\S)", re.IGNORECASE)
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)\s*(?:is|would be|should be|[:：])\s*[:：]?"
    r"[ \t]*([^\n]*\S)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.(?:\s|$)|;|\n")
_INLINE_MATH = re.compile(r"\$([^$]+)\$|\\\((.+?)\\\)")
_LAST_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?%?")
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")  # prose, not a LaTeX command or a variable
_LETTER_AT_START = re.compile(r"^[\s*]*([(\[])?\s*([A-Za-z])\s*([)\]])?(?=$|[\s.,;:!*)\]])(.?)")
_PAREN_LETTER = re.compile(r"[(\[]([A-J])[)\]]")


def extract_answer(text: str, task_type: str, choices: Sequence[str] = ()) -> str | None:
    """The final answer a response commits to, in canonical form, or None when it gives none.

    Args:
        text: the full model response (or an already-extracted short answer).
        task_type: one of ``TASK_TYPES``.
        choices: option texts for mcq, in letter order (A, B, …).

    Returns:
        math: the normalised answer (``normalize_math``); mcq: a capital letter; short: the
        ``normalize_short`` form; longform: the stripped response. None when nothing is found.
    """
    if not isinstance(text, str):
        raise TypeError(f"response text must be str, got {type(text).__name__}")
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {TASK_TYPES}, got {task_type!r}")
    tail = text[-MAX_TAIL:]
    if task_type == "math" and CANONICAL_NUMBER.fullmatch(tail):
        return tail  # already an extracted plain number (consensus votes, RL rewards): every rule keeps it
    if task_type == "math":
        found = _extract_math(tail)
        return normalize_math(found) or None if found is not None else None
    if task_type == "mcq":
        return _extract_mcq(tail, choices)
    if task_type == "short":
        found = _extract_short(tail)
        return normalize_short(found) or None if found is not None else None
    return tail.strip() or None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` with balanced braces (or ``\\boxed 5``)."""
    if not any(cmd in text for cmd in _BOX_COMMANDS):
        return None  # the common case, decided by substring search alone
    end = len(text)
    while True:
        start, command = max((text.rfind(cmd, 0, end), cmd) for cmd in _BOX_COMMANDS)
        if start < 0:
            return None
        i = start + len(command)
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            content = _balanced(text, i)
            if content is not None:
                return content.strip()
        elif text[start:i].endswith(" "):
            token = re.match(r"[^\s$]+", text[i:])
            if token:
                return token.group(0)
        end = start


def _balanced(text: str, open_index: int) -> str | None:
    depth = 0
    for j in range(open_index, min(len(text), open_index + MAX_BOXED)):
        ch = text[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : j]
    return None


def _last(pattern: re.Pattern, text: str) -> str | None:
    match = None
    for match in pattern.finditer(text):
        pass
    return match.group(1) if match else None


def _anchored(text: str) -> str | None:
    """The segment after the last "####", "Final Answer:" or "the answer is", up to its sentence end."""
    for pattern in (_HASHES, _FINAL, _ANSWER_IS):
        if pattern is _HASHES and "####" not in text:
            continue  # a literal: substring search rules it out without running the regex
        segment = _last(pattern, text)
        if segment is not None:
            return _SENTENCE_END.split(segment, maxsplit=1)[0].strip() or None
    return None


def _extract_math(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    segment = _anchored(text)
    if segment is not None:
        inline = _INLINE_MATH.search(segment)
        if inline:
            return inline.group(1) or inline.group(2)
        return segment
    whole = text.strip()
    if len(whole) <= MAX_BOXED and "\n" not in whole and not _PROSE_WORD.search(normalize_math(whole)):
        return whole
    number = None
    for number in _LAST_NUMBER.finditer(text):
        pass
    return number.group(0) if number else None


def _extract_short(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    segment = _anchored(text)
    if segment is not None:
        return segment
    stripped = text.strip()
    if stripped and "\n" not in stripped and len(stripped.split()) <= MAX_SHORT_WORDS:
        return stripped
    return None


def _letters(choices: Sequence[str]) -> str:
    return string.ascii_uppercase[: len(choices)] if choices else "ABCDEFGHIJ"


def letter_at_start(segment: str, letters: str) -> str | None:
    """An option letter opening ``segment`` ("(b)", "B)", "B.", "B because"), never an article "a dog".

    A bare letter counts when it is upper-case and not "A"/"I" followed by a word, or when it is
    lower-case and ends the segment or is followed by punctuation.
    """
    m = _LETTER_AT_START.match(segment)
    if not m:
        return None
    opening, letter, closing, after = m.groups()
    upper = letter.upper()
    if upper not in letters:
        return None
    if closing:
        return upper
    if opening:
        return None
    ends = after == "" or not after.isspace() or segment[m.end() :].strip() == ""
    if letter.isupper() and (letter not in "AI" or ends):
        return upper
    return upper if ends else None


def match_option(segment: str, choices: Sequence[str]) -> str | None:
    """The letter of the one option whose text appears in ``segment``; None when none or several do."""
    norm = f" {normalize_short(segment)} "
    found = [i for i, c in enumerate(choices) if (nc := normalize_short(c)) and f" {nc} " in norm]
    texts = {i: normalize_short(choices[i]) for i in found}
    maximal = [i for i in found if not any(j != i and texts[i] in texts[j] for j in found)]
    return string.ascii_uppercase[maximal[0]] if len(maximal) == 1 else None


def _extract_mcq(text: str, choices: Sequence[str]) -> str | None:
    letters = _letters(choices)
    whole = strip_delimiters(text)
    if len(whole) <= 4:
        return letter_at_start(whole, letters)
    for segment in (last_boxed(text), _anchored(text)):
        if segment is None:
            continue
        segment = re.sub(r"\\text\w*\s*\{([^{}]*)\}", r"\1", segment)
        found = letter_at_start(segment, letters) or match_option(segment, choices)
        if found:
            return found
    parenthesised = [m.group(1) for m in _PAREN_LETTER.finditer(text) if m.group(1) in letters]
    if parenthesised:
        return parenthesised[-1]
    lines = whole.splitlines()
    return match_option(lines[-1], choices) if lines and choices else None
