"""What ingest accepts: the data policy every loaded question passes (README, "Data policy").

- Gold answers: an empty one, or one that reads as a non-finite number (``nan``, ``inf``,
  ``-Infinity``, any case), is an error.
- Digits: every decimal digit of another script in a gold answer (Unicode category Nd, e.g.
  fullwidth ``４２``, mathematical bold ``𝟒𝟐``, Arabic-Indic ``٤٢``) is replaced by its ASCII
  digit, so gold answers compare as ASCII; queries and contexts are kept as written (their
  text is what the question id hashes).
- Length: a field longer than :data:`MAX_CHARS` allows is an error naming the limit.
- Duplicates (same ``question_id``): the first is kept if the gold answers agree, else an
  error naming both rows (:class:`DuplicateChecker`).

Every violation raises :class:`PolicyError` (a ``ValueError``); loaders add where it came from.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import replace

from agentark_core.data.question import Question

MAX_CHARS = {"query": 100_000, "gt": 20_000, "context": 2_000_000, "gold_reasoning": 200_000, "choice": 10_000}


class PolicyError(ValueError):
    """A question the data policy rejects."""


def ascii_digits(text: str) -> str:
    """Replace every Unicode decimal digit (category Nd) by its ASCII digit.

    Example:
        >>> ascii_digits("４２ and 𝟒𝟐 and ٤٢")
        '42 and 42 and 42'
    """
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text)


def apply_policy(question: Question) -> Question:
    """The question with its gold answer normalised, or :class:`PolicyError` naming the rule broken."""
    for name in ("query", "gt", "context", "gold_reasoning"):
        value = getattr(question, name)
        if not isinstance(value, str):
            raise PolicyError(f"field {name!r} must be text, got {type(value).__name__}")
        _check_length(name, value)
    for choice in question.choices:
        _check_length("choice", str(choice))
    gt = ascii_digits(question.gt.strip())
    if not gt:
        raise PolicyError("empty gold answer")
    if _is_non_finite(gt):
        raise PolicyError(f"gold answer {gt!r} is not a finite value")
    return question if gt == question.gt else replace(question, gt=gt)


class DuplicateChecker:
    """Tracks question ids across rows: a repeat with the same gold answer is dropped (``keep`` False),
    one with a different gold answer is an error naming both rows."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[str, str]] = {}
        self.dropped = 0

    def keep(self, question: Question, where: str) -> bool:
        first = self._first.get(question.question_id)
        if first is None:
            self._first[question.question_id] = (where, question.gt)
            return True
        if first[1] != question.gt:
            raise PolicyError(f"{first[0]} and {where} hold the same question ({question.query[:60]!r}) with "
                              f"different gold answers: {first[1][:40]!r} vs {question.gt[:40]!r}")
        self.dropped += 1
        return False


def _check_length(name: str, value: str) -> None:
    if len(value) > MAX_CHARS[name]:
        raise PolicyError(f"field {name!r} has {len(value):,} characters, over the limit of {MAX_CHARS[name]:,} "
                          "(agentark_core.data.policy.MAX_CHARS)")


def _is_non_finite(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except (ValueError, OverflowError):
        return False
