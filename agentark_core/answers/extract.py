"""Final-answer extraction from a model response (paper §3.2: verify each agent's *own* final answer).

Math, strongest evidence first: the last ``\\boxed{…}`` (boxes written together, as in
``\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}``, are one answer) unless a "Final Answer"
follows it; the last "####" / "Final Answer" statement; the last "the answer is"; a response that
is itself an answer; else the last math span or number, whichever comes later. Statements are read
by ``segments``: markdown, blank lines, Minerva sentences, prose, worked arithmetic and currency
dollars are handled, another agent's quoted answer is skipped, and the prompt's placeholder ``X``
is no answer. MCQ letters come from ``mcq`` (no positional bias; hedges are no answer).

Only the last ``MAX_TAIL`` characters of a response are searched (final answers come last),
so a 1 MB response costs the same as a 16 kB one; every regex here is linear-time
(tests/unit/answers/test_time_bounds.py feeds each its worst inputs).

Example:
    >>> extract_answer("so x = 3, hence \\\\boxed{\\\\frac{1}{2}}", "math")
    '\\\\frac{1}{2}'
    >>> extract_answer("**Final Answer:** 18\\n\\nAgent 2's final answer of 20 is wrong.", "math")
    '18'
    >>> extract_answer("The answer is (c).", "mcq", ("red", "green", "blue"))
    'C'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentark_core.answers.mcq import mcq_letter
from agentark_core.answers.normalize import CANONICAL_NUMBER, normalize_math, normalize_short
from agentark_core.answers.segments import (
    anchored_segment,
    drop_currency,
    find_anchors,
    has_prose,
    is_non_answer,
    is_placeholder,
    is_quoted,
    last_math_or_number,
    math_spans,
    segment_value,
)

MAX_TAIL = 16_000  # characters of a response searched for the final answer
MAX_BOXED = 2_000  # longest \boxed{...} content read
MAX_SHORT_WORDS = 30  # an unanchored short response longer than this has no extractable answer
TASK_TYPES = ("math", "mcq", "short", "longform")
TEXT_TASK_TYPES = ("short", "longform")  # free-text answers (evaluation adds token F1)

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# what may stand between two boxes of one answer: "\boxed{-2} \quad \text{and} \quad \boxed{1}"
_BOX_JOINER = re.compile(
    r"\\q?quad|\\text\s*\{[^{}]{0,40}\}|\\[,;!: ]|\$|\\[()\[\]]|\b(?:and|or)\b|[a-zA-Z]\w{0,3}\s*=|[\s,;&]"
)
_BARE_TOKEN = re.compile(r"[^\s$]+")  # "\boxed 5"
_SENTENCE_BREAK = re.compile(r"[.!?]\s")
_WORD = re.compile(r"[A-Za-z]{2,}")
_DIGIT = re.compile(r"\d")
_AND = re.compile(r"\band\b")


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
        return mcq_letter(tail, choices, last_boxed(tail))
    if task_type == "short":
        found = _extract_short(tail)
        return normalize_short(found) or None if found is not None else None
    return tail.strip() or None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` with balanced braces (or ``\\boxed 5``)."""
    found = _boxes(text, limit=1)
    return found[0][2] if found else None


def _boxes(text: str, limit: int):
    """Up to ``limit`` boxes ``(start, end, content)`` from the end of ``text``, last first."""
    if not any(cmd in text for cmd in _BOX_COMMANDS):
        return []  # the common case, decided by substring search alone
    out, end = [], len(text)
    while len(out) < limit:
        start, command = max((text.rfind(cmd, 0, end), cmd) for cmd in _BOX_COMMANDS)
        if start < 0:
            break
        i = start + len(command)
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            content = _balanced(text, i)
            if content is not None:
                out.append((start, i + len(content) + 2, content.strip()))
        elif text[start:i].endswith(" "):
            token = _BARE_TOKEN.match(text, i)
            if token:
                out.append((start, token.end(), token.group(0)))
        end = start
    return out


def boxed_answer(text: str) -> tuple[int, str] | None:
    """The response's own boxed answer and where it ends: its last box not quoting another agent, joined
    with the boxes written right before it ("\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}" -> "-2, 1")."""
    boxes = [b for b in _boxes(text, limit=32) if not is_quoted(text, b[0])]
    if not boxes:
        return None
    group = [boxes[0]]
    for box in boxes[1:]:
        if box[1] > group[-1][0]:
            continue  # a box around the one already taken (\boxed{\boxed{5}})
        if not _joins(text[box[1] : group[-1][0]]):
            break
        group.append(box)
    return group[0][1], ", ".join(content for _, _, content in reversed(group))


def _joins(between: str) -> bool:
    """Whether two boxes with ``between`` between them state one answer: same sentence, nothing but
    connectives, symbols and at most two label words ("\\boxed{1} papers and \\boxed{2} bins")."""
    if len(between) > 80 or "\n\n" in between or ":" in between or _SENTENCE_BREAK.search(between):
        return False
    rest = _BOX_JOINER.sub(" ", between)
    labels = _WORD.findall(rest)
    return not _DIGIT.search(rest) and (not labels or len(labels) <= 2 and bool(_AND.search(between)))


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


def _own_statement(text: str, after: int = -1) -> str | None:
    """The segment after the response's last own strong anchor (####, Final Answer), else its last weak one.

    With ``after`` >= 0 only a strong anchor starting after that position counts (one written after a box).
    A statement that no answer is given ("the final answer is not provided") passes to the anchor
    before it (strong ones first); if every one says so, there is no statement.
    """
    anchors = find_anchors(text)
    strong = [a for a in anchors if a.kind == "strong" and a.start > after]
    candidates = strong[::-1] if after >= 0 else strong[::-1] + [a for a in anchors if a.kind != "strong"][::-1]
    segments = (anchored_segment(text, a.end) for a in candidates)
    return next((segment for segment in segments if not is_non_answer(segment)), None)


def _extract_math(text: str) -> str | None:
    text = drop_currency(text)
    boxed = boxed_answer(text)
    if boxed is not None:
        later = _own_statement(text, after=boxed[0])  # "\boxed{255} ... Final Answer: 10,455": the last word
        value = segment_value(later) if later is not None else None
        if value is not None:
            return value
        return segment_value(boxed[1]) if "$" in boxed[1] else boxed[1]
    statement = _own_statement(text)
    if statement is not None:
        return segment_value(statement)
    whole = text.strip()
    if len(whole) <= MAX_BOXED and "\n" not in whole and not has_prose(whole):
        return segment_value(whole)
    spans = math_spans(whole)
    if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(whole):
        return spans[0][2] or None  # the whole response is one math span ("$odd$", "$$x^2$$")
    return last_math_or_number(text)


def _extract_short(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    statement = _own_statement(text)
    if statement is not None:
        return None if is_placeholder(statement) else statement or None
    stripped = text.strip()
    if stripped and "\n" not in stripped and len(stripped.split()) <= MAX_SHORT_WORDS:
        return stripped
    return None
