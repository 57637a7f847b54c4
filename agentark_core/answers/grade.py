"""The one correctness judgement for labeling, RL rewards and evaluation (paper §3.2, §3.3, §4).

``grade(prediction, gt, task_type)`` extracts the final answer from a full response (an
already-extracted answer works too) and compares it with the ground truth:

* math: exact numbers first (``normalize.parse_number``, microseconds; a 6+-place decimal may be
  a rounded value, a decimal comma a point), then equal canonical strings or lists ("12 and 13"
  is "12, 13"), then the guarded symbolic path (``sandbox.symbolic_equal``). A ground truth that is
  a reference solution (MATH's boxed solutions) is read for its final answer first;
* mcq: option letters (a ground truth given as option text is mapped to its letter);
* short: SQuAD-normalised exact match, numbers compared as numbers;
* longform: always ungradable by rule (an LLM verifier decides).

"ungradable" is its own outcome, never folded into "incorrect": no answer found, the prompt's
placeholder parroted, a hedged MCQ answer, or a comparison the sandbox could not decide in time.

Example:
    >>> grade("... so the total is \\\\boxed{1,000} dollars", "1000", "math").correct
    True
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from agentark_core.answers.extract import extract_answer
from agentark_core.answers.mcq import letter_at_start, letters_for, match_option
from agentark_core.answers.normalize import (
    CANONICAL_NUMBER,
    decimal_comma,
    normalize_math,
    normalize_short,
    numbers_equal,
    parse_number,
    strip_delimiters,
)
from agentark_core.answers.sandbox import DEFAULT_TIMEOUT_S, symbolic_equal

Status = Literal["correct", "incorrect", "ungradable"]
MAX_CACHED_CHARS = 256  # longer extracted answers are not memoised by ``GradeCache``
MAX_GOLD_CHARS = 200  # a longer ground truth is a reference solution: its final answer is extracted
ROUNDED_PLACES = 6  # a decimal with this many places may be a rounded value (math-verify's float_rounding)
_LIST_WORDS = re.compile(r"\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b")
_LIST_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Grade:
    """A verdict on one response.

    Attributes:
        status: "correct", "incorrect", or "ungradable" (the rule cannot decide).
        extracted: the canonical final answer read from the response, None when none was found.
    """

    status: Status
    extracted: str | None = None

    @property
    def correct(self) -> bool:
        return self.status == "correct"


def grade(
    prediction: str,
    gt: str,
    task_type: str,
    choices: Sequence[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Grade:
    """Grade a model response against the ground-truth answer.

    Args:
        prediction: the full model response, or an already-extracted answer.
        gt: the ground-truth final answer (an option letter or option text for mcq).
        task_type: "math" | "mcq" | "short" | "longform".
        choices: option texts for mcq, in letter order.
        timeout_s: the most seconds extraction and comparison together may take (the symbolic path
            gets what extraction left of it).

    Returns:
        A ``Grade``; never raises on any ``str`` prediction.
    """
    start = time.monotonic()
    extracted = extract_answer(prediction, task_type, choices)
    left = timeout_s - (time.monotonic() - start)
    return grade_extracted(extracted, gt, task_type, choices, max(0.0, left))


def grade_extracted(
    extracted: str | None,
    gt: str,
    task_type: str,
    choices: Sequence[str] = (),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Grade:
    """The ``Grade`` of an answer ``extract_answer`` already read (None: nothing found): ``grade``'s second half.

    Args:
        extracted: ``extract_answer(prediction, task_type, choices)``.
        gt: the ground-truth final answer.
        task_type: "math" | "mcq" | "short" | "longform".
        choices: option texts for mcq, in letter order.
        timeout_s: the most seconds the symbolic math path may take.
    """
    if extracted is None or task_type == "longform":
        return Grade("ungradable", extracted)
    if task_type == "math":
        verdict = math_equal(gt, extracted, timeout_s)
    elif task_type == "mcq":
        verdict = _mcq_equal(gt, extracted, choices)
    else:
        verdict = _short_equal(gt, extracted)
    status: Status = "ungradable" if verdict is None else ("correct" if verdict else "incorrect")
    return Grade(status, extracted)


class GradeCache:
    """``grade`` memoised over a batch: one comparison per distinct (answer, gt, task_type, choices).

    A shard of a debate log repeats the same extracted answer many times (agents agree, rounds
    repeat), so labeling extracts every response but compares each distinct answer with the
    ground truth once. Build one per batch; the memo is cleared when it holds ``max_entries``,
    and answers longer than ``MAX_CACHED_CHARS`` (rarely repeated) are graded without it, so it
    stays within a few tens of MB. A symbolic comparison that ran out of time ("ungradable") is
    not retried for the same answer within the batch.

    Args:
        timeout_s: the most seconds one symbolic math comparison may take.
        max_entries: memo size bound.

    Example:
        >>> cache = GradeCache()
        >>> [cache.grade(r, "4", "math").status for r in ("so 4", "Final Answer: 4", "5")]
        ['correct', 'correct', 'incorrect']
    """

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S, max_entries: int = 100_000) -> None:
        self.timeout_s = timeout_s
        self.max_entries = max_entries
        self._grades: dict[tuple, Grade] = {}

    def grade(self, prediction: str, gt: str, task_type: str, choices: Sequence[str] = ()) -> Grade:
        """Same result as ``grade(prediction, gt, task_type, choices, timeout_s)``."""
        extracted = extract_answer(prediction, task_type, choices)
        if extracted is None or task_type == "longform" or len(extracted) > MAX_CACHED_CHARS:
            return grade_extracted(extracted, gt, task_type, choices, self.timeout_s)
        key = (extracted, gt, task_type, tuple(choices))
        found = self._grades.get(key)
        if found is None:
            if len(self._grades) >= self.max_entries:
                self._grades.clear()
            found = self._grades[key] = grade_extracted(extracted, gt, task_type, choices, self.timeout_s)
        return found


def math_equal(gt: str, pred: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool | None:
    """Whether two math answers are equal: numbers exactly, else canonical strings, else symbolically.

    ``gt`` may be a bare answer or a reference solution (MATH-style ``\\boxed{}``, "Final Answer: …"),
    whose final answer is read as a response's is. Returns None when the question cannot be decided
    safely (see ``sandbox``).
    """
    gold, cand = gold_answer(gt), normalize_math(pred)
    if not gold:
        return None
    if gold == cand:
        return True
    verdict = _numbers_verdict(gold, cand)
    if verdict is not None:
        return verdict
    if _list_form(gold) == _list_form(cand):
        return True
    return symbolic_equal(gold, cand, timeout_s)


def gold_answer(gt: str) -> str:
    """The canonical final answer of a ground truth: the answer itself, or the one a reference solution states."""
    if CANONICAL_NUMBER.fullmatch(gt):
        return gt
    if len(gt) > MAX_GOLD_CHARS or "\n" in gt.strip() or any(cmd in gt for cmd in ("\\boxed", "\\fbox")):
        return extract_answer(gt, "math") or ""  # a solution that states no answer grades nothing
    return normalize_math(gt)


def _numbers_verdict(gold: str, cand: str) -> bool | None:
    """Equality of two plain numbers (None when either is not one).

    A decimal written with 6+ places matches a value it rounds or truncates ("0.0833333333333333"
    is 1/12); a decimal comma ("1000,99") is read as a point when the other side has a point.
    """
    gold_number, cand_number = parse_number(gold), parse_number(cand)
    if gold_number is None and "." in cand:
        gold_number = decimal_comma(gold)
    if cand_number is None and "." in gold:
        cand_number = decimal_comma(cand)
    if gold_number is None or cand_number is None:
        return None
    if numbers_equal(gold_number, cand_number):
        return True
    places = max(_decimal_places(gold), _decimal_places(cand))
    if places >= ROUNDED_PLACES and gold_number.percent == cand_number.percent:
        return abs(gold_number.value - cand_number.value) < Fraction(1, 10**places)
    return False


def _decimal_places(s: str) -> int:
    point = s.find(".")
    return 0 if point < 0 else len(s) - point - 1 - s.endswith("%")


def _list_form(s: str) -> str:
    """A list answer without its wording: "19, 46, and 82" and "19, 46, \\text{ and } 82" -> "19,46,82"."""
    s = _LIST_WORDS.sub(",", s)
    return ",".join(part for part in _LIST_SEPARATORS.split(s) if part)


def _mcq_equal(gt: str, letter: str, choices: Sequence[str]) -> bool | None:
    letters = letters_for(choices)
    gold = strip_delimiters(gt)
    gold_letter = letter_at_start(gold, letters) if len(gold) <= 4 else None
    gold_letter = gold_letter or match_option(gold, choices)
    if gold_letter is None:
        return None
    return gold_letter == letter


def _short_equal(gt: str, pred: str) -> bool | None:
    gold, cand = normalize_short(gt), normalize_short(pred)
    if not gold:
        return None
    if gold == cand:
        return True
    gold_number, cand_number = parse_number(normalize_math(gt)), parse_number(normalize_math(pred))
    if gold_number is not None and cand_number is not None:
        return numbers_equal(gold_number, cand_number)
    return False
