"""Trace anatomy for extraction (paper §3.2, §3.3.3): steps, the final-answer line, step shapes.

* ``split_steps(text, splitter)``: a trace as a list of steps, by a registered splitter
  ("paragraph" = blank-line separated, the PURE/PRM default; "line"; "step" = ``Step k:`` blocks).
  The PRM is trained and queried with the same separator, so pick the splitter matching
  ``PRMConfig.step_separator`` ("paragraph" ↔ ``"\\n\\n"``, "line" ↔ ``"\\n"``).
* ``split_final_answer(trace, ...)``: (reasoning before the last final-answer line,
  ``"Final Answer: <extracted>"``) — what R-SFT/DA train on.
* ``step_shape(step)``: the structure of one step with the numbers abstracted away
  (operators, LaTeX commands, decimal/fraction markers), compared by ``diverse``.

Example:
    >>> split_steps("Step 1: 2 + 3 = 5\\nStep 2: 5 * 4 = 20\\nFinal Answer: 20", "step")
    ['Step 1: 2 + 3 = 5', 'Step 2: 5 * 4 = 20', 'Final Answer: 20']
    >>> step_shape("Step 2: 5 * 4 = 20"), step_shape("so 0.5 of them are left")
    ('*=', 'D')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from agentark_core.answers import extract_answer
from agentark_core.registry import Registry

STEP_SPLITTERS: Registry[Callable[[str], list[str]]] = Registry("step splitter")

_STEP_START = re.compile(r"^\s*(?:[*#]+\s*)?(?:step\s+\d+\s*[:.)]|final answer)", re.IGNORECASE)
# A line stating the final answer: the last one ends the reasoning.
_ANSWER_LINE = re.compile(r"\\boxed|\\fbox|####|final answer|answer\s+is|answer\s*[:：]", re.IGNORECASE)
_FINAL_MARKER = re.compile(r"final answer(?:\s+is)?\s*[:：]?", re.IGNORECASE)
_SHAPE_TOKEN = re.compile(r"\\[a-zA-Z]+|\d+\.\d+|\d+\s*/\s*\d+|[-+*/×÷=^<>%√]")
# Without these, no token of _SHAPE_TOKEN starts with a digit and the shape is the plain token string.
_NUMBER_TOKEN = re.compile(r"\d\.\d|\d\s*/\s*\d")
_SYMBOL_TOKEN = re.compile(r"\\[a-zA-Z]+|[-+*/×÷=^<>%√]")
PROSE_SHAPE = "T"  # the shape of a step without any math


@STEP_SPLITTERS.register("paragraph")
def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, stripped, empty ones dropped (the GRPO reward splits the same way)."""
    return [s.strip() for s in text.split("\n\n") if s.strip()]


@STEP_SPLITTERS.register("line")
def split_lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [s.strip() for s in text.split("\n") if s.strip()]


@STEP_SPLITTERS.register("step")
def split_step_blocks(text: str) -> list[str]:
    """Blocks opened by a ``Step k:`` (or ``Final Answer``) line; text before the first is its own step."""
    blocks: list[list[str]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if not blocks or _STEP_START.match(line):
            blocks.append([line.strip()])
        else:
            blocks[-1].append(line.strip())
    return ["\n".join(b) for b in blocks]


def split_steps(text: str, splitter: str = "paragraph") -> list[str]:
    """Split ``text`` with the registered splitter ``splitter`` (unknown names list the valid ones)."""
    return STEP_SPLITTERS.get(splitter)(text)


def split_final_answer(
    trace: str, task_type: str, choices: Sequence[str] = (), answer: str | None = None
) -> tuple[str, str | None]:
    """Separate a trace's reasoning from its final answer.

    The reasoning is the text before the LAST line that states an answer (``\\boxed``, ``####``,
    "Final Answer", "answer is"); with no such line the whole trace is reasoning. The answer is
    the grader's extraction (``answers.extract_answer``) written as ``"Final Answer: <answer>"``;
    for longform (whose extraction is the whole response) it is the text after a "Final Answer"
    marker on that line, else the last line.

    Args:
        trace: the full response.
        task_type: the question's task type.
        choices: mcq option texts.
        answer: the answer the grader already extracted from ``trace`` (a label's ``answer``);
            saves extracting it again. Ignored for longform.

    Returns:
        ``(reasoning, answer_line)``; ``answer_line`` is None when no answer can be read.
    """
    lines = trace.rstrip().split("\n")
    cut = next((i for i in range(len(lines) - 1, -1, -1) if _ANSWER_LINE.search(lines[i])), None)
    reasoning = "\n".join(lines[:cut] if cut is not None else lines).strip()
    if task_type == "longform":
        line = lines[cut] if cut is not None else lines[-1]
        marker = _FINAL_MARKER.search(line)
        value = (line[marker.end() :] if marker else line).strip() or None
    elif answer:
        value = answer
    else:
        value = extract_answer(trace, task_type, choices)
    return reasoning, None if value is None else f"Final Answer: {value}"


def step_shape(step: str) -> str:
    """The structure of one step: its operators and LaTeX commands in order, numbers abstracted.

    Integers vanish, decimals become ``D`` and plain fractions ``F``, so two steps doing the
    same operation on different numbers share a shape; a step without math is ``PROSE_SHAPE``.
    """
    if not _NUMBER_TOKEN.search(step):  # fast path (most steps): only operators and commands
        return "".join(_SYMBOL_TOKEN.findall(step)) or PROSE_SHAPE
    out = []
    for token in _SHAPE_TOKEN.findall(step):
        if token[0].isdigit():
            out.append("D" if "." in token else "F")
        else:
            out.append(token)
    return "".join(out) or PROSE_SHAPE


def trace_pattern(trace: str, splitter: str = "line") -> tuple[str, ...]:
    """The sequence of step shapes of a trace (the object structural diversity compares)."""
    return tuple(step_shape(s) for s in split_steps(trace, splitter))
