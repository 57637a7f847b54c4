"""Multiple-choice answers: the option letter a response commits to, without positional bias (paper §4, MedMCQA).

Rules, strongest first: the answer statement (boxed, "Final Answer:", "the answer is") read as a
letter ("(B)", "B)", "B.", "B is correct", "\\text{B}") or as the text of exactly one option;
"option B"/"choice B"; a single parenthesised letter outside the option listing the model copied
from the prompt. A hedge ("B or C", "B/C", "either (A) or (B)") commits to nothing: None, never
its first letter. A leading article ("A dog") is not option A. No rule prefers any letter, so the
per-letter recall on a balanced set is equal (tests/unit/answers/test_corpus.py measures it).

Example:
    >>> mcq_letter("Options: (A) cat (B) dog (C) mouse\\nI pick option B.", ("cat", "dog", "mouse"))
    'B'
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from agentark_core.answers.normalize import normalize_short, strip_delimiters
from agentark_core.answers.segments import anchored_segment, find_anchors

_LETTER_AT_START = re.compile(r"^[\s*_]*(?:([(\[])\s*)?([A-Za-z])\s*([)\]])?(?=$|[\s.,;:!?*)\]/])(.?)")
_PAREN_LETTER = re.compile(r"[(\[]([A-J])[)\]]")
_OPTION_WORD = re.compile(r"\b(?:option|choice)\s*[(\[]?([A-Ja-j])[)\]]?(?![\w])", re.IGNORECASE)
_HEDGE = re.compile(r"(?:\b[oO][rR]\b|\b[aA]nd\b|/|,)\s*(?:option\s*)?[(\[]?([A-J])[)\]]?(?![\w'])")
_TEXT_WRAPPER = re.compile(r"\\text\w*\s*\{([^{}]*)\}")
# "A is correct", "A because …": a capital A/I followed by one of these is a letter, not an article
_LETTER_VERBS = frozenset({
    "is", "was", "seems", "would", "should", "must", "looks", "fits", "appears", "because", "since", "as",
    "matches", "answers", "best",
})


def letters_for(choices: Sequence[str]) -> str:
    """The valid option letters: one per choice, or A-J when the choices are unknown."""
    return string.ascii_uppercase[: len(choices)] if choices else "ABCDEFGHIJ"


def letter_at_start(segment: str, letters: str) -> str | None:
    """An option letter opening ``segment`` ("(b)", "B)", "B.", "B is correct"), never an article "a dog".

    A bare capital letter counts unless it is "A"/"I" followed by a word that is not a verb
    ("A dog" is an article; "A is correct" is option A); a lower-case one counts when it ends the
    segment or is followed by punctuation.
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
    rest = segment[m.end() - len(after) :].strip()
    ends = after == "" or not after.isspace() or rest == ""
    if ends:
        return upper
    next_word = rest.split(None, 1)[0].lower().strip(".,;:!?")
    if letter.isupper() and (letter not in "AI" or next_word in _LETTER_VERBS):
        return upper
    return None


def match_option(segment: str, choices: Sequence[str]) -> str | None:
    """The letter of the one option whose text appears in ``segment``; None when none or several do."""
    norm = f" {normalize_short(segment)} "
    found = [i for i, c in enumerate(choices) if (nc := normalize_short(c)) and f" {nc} " in norm]
    texts = {i: normalize_short(choices[i]) for i in found}
    maximal = [i for i in found if not any(j != i and texts[i] in texts[j] for j in found)]
    return string.ascii_uppercase[maximal[0]] if len(maximal) == 1 else None


def _hedged(segment: str, letter: str, letters: str) -> bool:
    """Whether ``segment`` names another option letter next to ``letter`` ("B or C", "B/C")."""
    return any(m.group(1).upper() != letter and m.group(1).upper() in letters for m in _HEDGE.finditer(segment))


def _segment_letter(segment: str, choices: Sequence[str], letters: str) -> str | None:
    segment = _TEXT_WRAPPER.sub(r"\1", strip_delimiters(segment))
    letter = letter_at_start(segment, letters)
    if letter is not None:
        return None if _hedged(segment, letter, letters) else letter
    inner = [m.group(1) for m in _PAREN_LETTER.finditer(segment) if m.group(1) in letters]
    if inner:
        return inner[0] if len(set(inner)) == 1 else None
    return match_option(segment, choices)


def _outside_listing(text: str, letters: str) -> list[str]:
    """Parenthesised letters, leaving out an option listing copied from the prompt ("(A) … (B) … (C) …")."""
    found = [m.group(1) for m in _PAREN_LETTER.finditer(text) if m.group(1) in letters]
    run = 0
    while run < len(found) and found[run] == letters[run % len(letters)]:
        run += 1
    return found[run:] if run >= 3 else found


def mcq_letter(text: str, choices: Sequence[str] = (), boxed: str | None = None) -> str | None:
    """The option letter ``text`` commits to, or None when it commits to none (or hedges).

    Args:
        text: the response tail (already capped by the caller).
        choices: option texts in letter order.
        boxed: the response's last ``\\boxed{}`` content, when it has one.
    """
    letters = letters_for(choices)
    whole = strip_delimiters(text).strip().strip("*_").strip()
    if len(whole) <= 4:
        return letter_at_start(whole, letters)
    if boxed is not None:
        return _segment_letter(boxed, choices, letters)
    anchors = find_anchors(text)
    if anchors:
        strong = [a for a in anchors if a.kind == "strong"]
        chosen = (strong or anchors)[-1]
        for anchor in [chosen] + [a for a in anchors if a.start > chosen.start]:  # "Final Answer: The answer is B"
            letter = _segment_letter(anchored_segment(text, anchor.end), choices, letters)
            if letter is not None:
                return letter
        return None
    options = [m.group(1).upper() for m in _OPTION_WORD.finditer(text) if m.group(1).upper() in letters]
    if options:
        return options[-1]
    parenthesised = _outside_listing(text, letters)
    if parenthesised:
        return parenthesised[-1]
    first = letter_at_start(whole, letters)
    if first is not None and not _hedged(whole.split("\n", 1)[0], first, letters):
        return first
    lines = whole.splitlines()
    return match_option(lines[-1], choices) if lines and choices else None
