"""Where a response states its own final answer, and what value that statement gives (paper §3.2).

Real chat models write the answer line in many shapes: ``**Final Answer:** 18``, ``Final Answer:``
followed by a blank line, a Minerva sentence (``Final Answer: The final answer is 18. I hope it
is correct.``), prose (``Janet makes $18 every day.``), arithmetic (``9 * $2 = $18``), and in
debate rounds a quote of another agent after their own answer (``Agent 2's final answer of 20 is
wrong.``). This module finds the response's own anchor (``find_anchor``) and reads one value from
the text after it (``segment_value``); ``drop_currency`` tells currency dollars from LaTeX ones.

Every scan here is linear in the text: ``str.find`` loops and regexes without nested repetition,
over text the caller has already capped (``extract.MAX_TAIL``).

Example:
    >>> segment_value(anchored_segment("**Final Answer:** Janet makes 18 every day."))
    '18'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SEGMENT = 400  # characters of an answer segment kept (answers are short; units runs are cut here)
# the prompt's format placeholder ("Final Answer: X") parroted back, never an answer (a lower-case x is a variable)
PLACEHOLDERS = frozenset({"X", "[X]", "<X>", "(X)", "...", "?", "[ ]", "<>", "[]"})
_PLACEHOLDER_WORDS = frozenset({"answer", "[answer]", "<answer>", "your answer", "[your answer]", "final answer"})
# a statement that no answer is given ("... but the final answer is not provided"): the response's
# answer, if any, is an earlier own statement (a bare "unknown" or "undefined" may be a real answer)
_NON_ANSWER = re.compile(
    r"(?:(?:is|was|has|have|has been|were)\s+)?(?:not|never)\s+(?:yet\s+)?"
    r"(?:provided|given|stated|specified|shown|included|mentioned|listed|available|present|written)\b"
    r"|(?:missing|n/a|none given|not applicable)$",
    re.IGNORECASE,
)

_STRONG = re.compile(r"####|final\s+answer", re.IGNORECASE)
_WEAK = re.compile(
    r"(?:answer|option|choice)(?:\s+(?:is|would be|should be|will be)\b\s*[:：]?|\s*[:：])", re.IGNORECASE
)
# after "final answer": optional markdown/heading marks, then "is", a colon, or the end of the line
_MARKER_WORDS = (("####", _STRONG, "strong"), ("final", _STRONG, "strong"), ("answer", _WEAK, "weak"),
                 ("option", _WEAK, "weak"), ("choice", _WEAK, "weak"))
_FINAL_FOLLOW = re.compile(
    r"(?<![ \t*_#])[ \t*_#]*(?:(?:is|was|would be|will be)\b[ \t*_]*[:：]?|[:：=]|\n|$)", re.IGNORECASE
)
# who else's answer a marker reports: "Agent 2's final answer", "Agent 3 said the answer is", "their answer",
# "according to Agent 1"; "I agree with Agent 2 that the answer is 18" stays the agent's own statement
_QUOTER = re.compile(
    r"\bagents?(?:\s+\d+)?\s*(?:['’]s\b|said|says|answered|answers|claims?|thinks?|got|gave|wrote|concluded|argues?)"
    r"|\b(?:their|his|her|peers?|others?|according\s+to)\b|['’]s\W*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|;|\n")
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+(?:\s*\{[a-zA-Z* ]*\})?")  # \begin{pmatrix}, \text{odd}, \mathrm{e}
_CONNECTIVES = frozenset({"and", "or"})
# a number not inside a word ("AZ2A") and not a hyphenated adjective ("a 7-day cycle"); atomic, so a
# refused "7-day" is not retried as a shorter number
_NUMBER = re.compile(r"(?<![A-Za-z\d.,/])(?>-?\d+(?:,\d{3})*(?:[.,]\d+)?(?:/\d+)?%?)(?!-[A-Za-z])")
_MULTIPLY = re.compile(r"\\(?:times|cdot|div|frac|dfrac|tfrac)|(?<![A-Za-z])[xX](?![A-Za-z])")
_VARIABLE = re.compile(r"[a-zA-Z]\w{0,2}")
_PREPOSITION = re.compile(r"\b(?:after|before|in|on|for|of|per|each|every|within|by|from|at|over|than)\s*$")
# a number right after one of these names a thing ("Agent 2", "Round 3", "Step 4"), it is not a value
_LABEL = re.compile(r"\b(?:agents?|round|step|part|case|option|choice|solution|no\.?|#)\s*$", re.IGNORECASE)
_IS_SPLIT = re.compile(r"\s(?:is|are|equals|was|will be|would be)\s", re.IGNORECASE)
_EQUALS = re.compile(r"(?<![<>!=\\])=(?!=)")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[a-zA-Z]")
_LIST_SPLIT = re.compile(r"(?<!\s)\s*(?:\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b|,)\s*")


@dataclass(frozen=True)
class Anchor:
    """An answer marker found in a response: ``kind`` is "strong" (####, Final Answer) or "weak"."""

    kind: str
    start: int
    end: int


def drop_currency(text: str) -> str:
    """``text`` with currency dollar signs removed and LaTeX ``$…$`` pairs kept.

    A ``$`` followed by a digit opens a currency amount, not math, when no closing ``$`` follows on
    the same line, when prose lies before that closing ``$`` ("$5 and she buys 4, so she pays $20"),
    or when the closing ``$`` is itself followed by a digit ("9 * $2 = $18"). ``\\$`` always goes.
    """
    text = text.replace("\\$", "")
    if "$" not in text:
        return text
    out, i = [], 0
    while True:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        if text.startswith("$$", j):
            close = text.find("$$", j + 2)
            end = len(text) if close < 0 else close + 2
            out.append(text[j:end])
            i = end
            continue
        close = text.find("$", j + 1)
        line_end = text.find("\n", j + 1)
        if close >= 0 and (line_end < 0 or close < line_end) and not _is_currency(text, j, close):
            out.append(text[j : close + 1])
            i = close + 1
        else:
            if not _opens_amount(text, j):
                out.append("$")  # a lone "$" that is not an amount stays as written
            i = j + 1


def _opens_amount(text: str, j: int) -> bool:
    nxt = text[j + 1 : j + 3]
    return bool(nxt) and (nxt[0].isdigit() or (nxt[0] in "-." and nxt[1:2].isdigit()))


def _is_currency(text: str, j: int, close: int) -> bool:
    if not _opens_amount(text, j):
        return False
    content = text[j + 1 : close]
    after = text[close + 1 : close + 2]
    return bool(_PROSE_WORD.search(content)) or after.isdigit() or content.endswith((" ", "="))


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of every ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]`` span, in order.

    Inline ``$…$`` and ``\\(…\\)`` do not cross a line break (as in LaTeX); display spans may.
    """
    if "$" not in text and "\\(" not in text and "\\[" not in text:
        return []  # the common plain-text reply, decided by substring search
    spans, i = [], 0
    pairs = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
    next_at = {o: text.find(o) for o, _ in pairs}  # refreshed only when passed: linear overall
    while True:
        for o, _ in pairs:
            if 0 <= next_at[o] < i:
                next_at[o] = text.find(o, i)
        found = [(next_at[o], o, c) for o, c in pairs if next_at[o] >= 0]
        if not found:
            return spans
        pos, opener, closer = min(found, key=lambda t: (t[0], -len(t[1])))
        close = text.find(closer, pos + len(opener))
        if close < 0:
            return spans
        content = text[pos + len(opener) : close]
        if opener in ("$", "\\(") and "\n" in content.strip(" \t"):
            i = pos + len(opener)
            continue
        spans.append((pos, close + len(closer), content.strip()))
        i = close + len(closer)


def is_quoted(text: str, start: int) -> bool:
    """Whether the answer marker at ``start`` reports another agent's answer ("Agent 2's final answer")."""
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[max(line_start, start - 40) : start]
    sentence = _SENTENCE_END.split(prefix)[-1]
    return bool(_QUOTER.search(sentence))


def find_anchors(text: str) -> list[Anchor]:
    """Every answer marker of the response's own, in text order (quoted peers' markers left out)."""
    anchors = []
    for m, kind in _markers(text):
        end = m.end()
        if kind == "strong" and m.group(0) != "####":
            follow = _FINAL_FOLLOW.match(text, end)
            if follow is None:
                continue  # "final answer of 20": a mention, not a statement
            end = follow.end()
        if not is_quoted(text, m.start()):
            anchors.append(Anchor(kind, m.start(), end))
    return sorted(anchors, key=lambda a: a.start)


def _markers(text: str):
    """``(match, kind)`` of the marker regexes, tried only where ``str.find`` saw their first word.

    Case-insensitive regex scans of every position cost ~30 us per reply; the substring search
    keeps grading the common reply in microseconds.
    """
    low = text.lower()
    if len(low) != len(text):  # a case mapping changed the length (rare Unicode): positions differ
        yield from ((m, "strong") for m in _STRONG.finditer(text))
        yield from ((m, "weak") for m in _WEAK.finditer(text))
        return
    for word, pattern, kind in _MARKER_WORDS:
        i = low.find(word)
        while i >= 0:
            m = pattern.match(text, i)
            if m:
                yield m, kind
            i = low.find(word, m.end() if m else i + len(word))


def anchored_segment(text: str, end: int = 0) -> str:
    """The answer statement that starts at ``end``: the first non-blank line, cut at its sentence end.

    Markdown emphasis and headings around it are dropped, as is trailing punctuation.
    """
    rest = text[end : end + 4 * MAX_SEGMENT].lstrip(" \t*_#:：\n\r")
    line = rest.split("\n", 1)[0][:MAX_SEGMENT]
    cut = _sentence_cut(line)
    return cut.strip().strip("*_").strip().rstrip(".!?,;:").strip().strip("*_").strip()


def _sentence_cut(line: str) -> str:
    """``line`` up to its first sentence end outside a math span (a decimal point is not an end)."""
    spans = math_spans(line)
    for m in _SENTENCE_END.finditer(line):
        if not any(s <= m.start() < e for s, e, _ in spans):
            return line[: m.start()]
    return line


def segment_value(segment: str) -> str | None:
    """The one value an answer statement gives, or None for a placeholder, an empty statement or one
    saying no answer is given.

    Order: a math span (``$\\frac{3}{4}$``); the part after "is" in a sentence ("The volume of
    ABCD is 120"); the value after the last "=" of a worked expression ("9 * 2 = 18"); in prose the
    first number not governed by a preposition ("She has 35 marbles left after giving 5 away");
    otherwise the statement itself (a text answer such as "odd").
    """
    segment = segment.strip()
    if not segment or is_placeholder(segment) or is_non_answer(segment):
        return None
    words = _prose_words(segment)
    if words and words <= _CONNECTIVES:
        return _listed(segment)
    prose = bool(words)
    if prose:
        parts = _IS_SPLIT.split(segment)
        if len(parts) > 1 and parts[-1].strip():
            after = segment_value(parts[-1])
            before = _prose_number(" ".join(parts[:-1]))
            if before is not None and (after is None or not _DIGIT.search(after)):
                return before  # "5 is the number of apples"
            return after
    spans = math_spans(segment)
    if spans:
        return _value_after_equals(spans[-1][2]) or None
    if prose:
        number = _prose_number(segment)
        if number is not None:
            return number
        return segment
    return _value_after_equals(segment)


def is_placeholder(answer: str) -> bool:
    """Whether ``answer`` is the prompt's format placeholder ("X", "[answer]"), not a value."""
    answer = answer.strip()
    return answer in PLACEHOLDERS or answer.lower() in _PLACEHOLDER_WORDS


def is_non_answer(segment: str) -> bool:
    """Whether an answer statement says that no answer is given ("not provided", "missing", "N/A")."""
    return bool(_NON_ANSWER.match(segment.strip().strip("*_").strip()))


def has_prose(text: str) -> bool:
    """Whether ``text`` has words outside math spans and LaTeX commands ("so", "dollars"; not "\\frac", "x")."""
    return bool(_prose_words(text))


def _prose_words(text: str) -> set[str]:
    return {w.lower() for w in _PROSE_WORD.findall(_LATEX_COMMAND.sub(" ", _without_spans(text)))}


def _listed(segment: str) -> str:
    """A list written with words ("2 and 3", "$x=3$ or $x=-3$") as a comma list of its values."""
    items = _LIST_SPLIT.split(segment)
    values = [segment_value(item) for item in items if item.strip(" ,$") and item != segment]
    return ", ".join(v for v in values if v)


def _without_spans(segment: str) -> str:
    out, i = [], 0
    for start, end, _ in math_spans(segment):
        out.append(segment[i:start])
        i = end
    out.append(segment[i:])
    return " ".join(out)


def _value_after_equals(expr: str) -> str:
    """The value after the last "=" of a worked computation ("60 * X = 60 * 10 = 600" -> "600", "x = 5" -> "5").

    An equation between unknowns ("-34x - 45y + 20z - 100 = 0", "p = -1, p = 15/8") stays whole.
    """
    parts = _EQUALS.split(expr)
    if len(parts) < 2:
        return expr
    rhs, lhs = parts[-1].strip(), parts[-2].strip()
    if not rhs or is_placeholder(rhs):
        return expr
    is_value = bool(_NUMBER.fullmatch(rhs.replace(" ", ""))) or rhs.startswith("\\frac") and "=" not in rhs
    arithmetic = not _LETTER.search(_MULTIPLY.sub(" ", lhs))
    assignment = len(parts) == 2 and bool(_VARIABLE.fullmatch(lhs))
    return rhs if is_value and (arithmetic or assignment) else expr


def _prose_number(segment: str) -> str | None:
    for m in _NUMBER.finditer(segment):
        before = segment[max(0, m.start() - 12) : m.start()]
        if not _PREPOSITION.search(before) and not _LABEL.search(before):
            return m.group(0)
    return None


def last_math_or_number(text: str) -> str | None:
    """The unanchored fallback: the last math span or the last number, whichever ends later.

    So "The point coordinates are $(1,2)$" gives "(1,2)", not "2"; "so she has 10 left" gives "10".
    """
    spans = math_spans(text)
    number = None
    for m in _NUMBER.finditer(text):
        if not _LABEL.search(text[max(0, m.start() - 12) : m.start()]):
            number = m  # "so I agree with Agent 3." does not answer 3
    span = spans[-1] if spans else None
    if span is not None and (number is None or number.start() < span[1]):
        return _value_after_equals(span[2]) or None
    return number.group(0) if number else None
