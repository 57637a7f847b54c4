"""The grading regression corpus: published test cases of other graders plus issue 17's failure patterns.

Every case carries its provenance (``source`` and ``ref``: repository, commit, file, line) and a
``category``; ``load_corpus()`` returns them all and ``agreement_table()`` prints how often a
verdict function agrees with the expected verdicts, per source and per category. Agreement is
binary, as labels use it: a case expecting "correct" agrees when the verdict is correct; one
expecting "incorrect" or "ungradable" agrees when it is not ("ungradable" is checked three-way
by the grader's own tests).

Sources: ``math_verify.jsonl`` (built by ``import_math_verify.py`` from Math-Verify's tests),
``cases.py`` (Qwen2.5-Math grader examples, lm-evaluation-harness GSM8K targets, verl reward
tests, Math-Verify's example outputs, issue 17's patterns, GSM8K-style completions) and a
letter-balanced MCQ set (``mcq_cases``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import cases as hand

HERE = Path(__file__).parent
LM_EVAL_COMMIT = "4e7e0d47f33b"
VERL_COMMIT = "b178a3cd56f5"
MCQ_CHOICES = ("the mitochondria", "the nucleus", "the ribosome", "the cell wall")
MCQ_TEXTS = ("mitochondria", "nucleus", "ribosome", "cell wall")


@dataclass(frozen=True)
class Case:
    """One graded example: a model response, its gold answer and the verdict a careful grader gives."""

    response: str
    gold: str
    task_type: str
    expected: str
    source: str
    category: str
    ref: str
    choices: tuple[str, ...] = ()


def mcq_cases() -> list[Case]:
    """A letter-balanced MCQ set (every template once per letter A-D): per-letter recall shows positional bias.

    The option list is written out in each response, as models copy it, so a "last parenthesised
    letter" fallback would favour D; hedged answers are ungradable, never their first letter.
    """
    listing = "Options: " + " ".join(f"({'ABCD'[i]}) {t}" for i, t in enumerate(MCQ_CHOICES))
    templates = [
        "{listing}\nThe organelle that makes ATP is {text}.\nFinal Answer: {L}",
        "{listing}\nFinal Answer: ({L})",
        "Final Answer: {L}) {text}",
        "**Final Answer: {L}**",
        "**Final Answer:** {L}",
        "The answer is {L}.",
        "The correct option is ({l}).",
        "Answer: {L}",
        "{L} is correct, because the others do not fit.",
        "{listing}\nI pick option {L}.",
        "Final Answer: $\\boxed{{{L}}}$",
        "Final Answer: \\boxed{{\\text{{{L}}}}}",
        "{listing}\nIt is clearly {text}.\n\nFinal Answer: {text}",
        "Final Answer:\n\n{L}",
        "{L}",
        "Looking at the options, ({L}) {text} fits best.",
        "Final Answer: The answer is {L}.",
        "Final Answer: {L}\n\nNote: the answer is not {M}.",
    ]
    hedges = ["Final Answer: {L} or {M}", "The answer is either ({L}) or ({M}).", "Final Answer: {L}/{M}"]
    out = []
    for i, letter in enumerate("ABCD"):
        other = "ABCD"[(i + 1) % 4]
        fields = {"listing": listing, "L": letter, "l": letter.lower(), "text": MCQ_TEXTS[i], "M": other}
        for n, template in enumerate(templates):
            for gold, expected in ((letter, "correct"), (other, "incorrect")):
                out.append(Case(template.format(**fields), gold, "mcq", expected, "agentark-mcq",
                                "mcq letters", f"agentark mcq template {n}", MCQ_CHOICES))
        for n, template in enumerate(hedges):
            out.append(Case(template.format(**fields), letter, "mcq", "ungradable", "agentark-mcq",
                            "mcq hedged", f"agentark mcq hedge {n}", MCQ_CHOICES))
    out.append(Case("Final Answer: A cell wall.", "D", "mcq", "correct",
                    "agentark-mcq", "mcq article", "issue 17: a leading article A", MCQ_CHOICES))
    out.append(Case("A good guess is the nucleus.\nFinal Answer: B", "A", "mcq", "incorrect",
                    "agentark-mcq", "mcq article", "issue 17: a leading article A", MCQ_CHOICES))
    return out


def _hand_cases() -> list[Case]:
    out = [Case(p, g, "math", e, "qwen2.5-math", "qwen:math_equal", hand.QWEN_REF) for p, g, e in hand.QWEN25_MATH]
    out += [Case(p, g, "math", e, "lm-eval", "lm-eval:gsm8k", hand.LM_EVAL_REF.format(commit=LM_EVAL_COMMIT, file=f))
            for p, g, e, f in hand.LM_EVAL_GSM8K]
    out += [Case(p, g, "math", e, "verl", "verl:reward_score", hand.VERL_REF.format(commit=VERL_COMMIT))
            for p, g, e in hand.VERL]
    out += [Case(p, g, "math", e, "verl", "verl:gsm8k", hand.VERL_GSM8K_REF.format(commit=VERL_COMMIT))
            for p, g, e in hand.VERL_GSM8K]
    out += [Case(p, g, "math", e, "math-verify", "mv:model_outputs", hand.MV_EXAMPLES_REF.format(line=i + 2))
            for i, (p, g, e) in enumerate(hand.MV_EXAMPLES)]
    out += [Case(p, g, "math", e, "agentark-issue-17", f"p{n} {hand.ISSUE_CATEGORIES[n]}", hand.ISSUE_REF.format(n=n))
            for p, g, e, n in hand.ISSUE_PATTERNS]
    out += [Case(p, g, "math", e, "agentark-gsm8k", "gsm8k cot", "agentark: GSM8K-style completion")
            for p, g, e in hand.GSM8K_COT]
    return out


def load_corpus() -> list[Case]:
    """Every case of the corpus, published ones first."""
    rows = [json.loads(line) for line in (HERE / "math_verify.jsonl").read_text().splitlines() if line]
    published = [Case(r["response"], r["gold"], r["task_type"], r["expected"], r["source"], r["category"], r["ref"])
                 for r in rows]
    return published + _hand_cases() + mcq_cases()


def agrees(case: Case, correct: bool) -> bool:
    """Whether a binary verdict (correct or not) agrees with the case's expected verdict."""
    return correct == (case.expected == "correct")


def agreement(cases: Sequence[Case], verdicts: dict[str, Sequence[bool]], key: Callable[[Case], str]) -> dict:
    """``{group: {name: (agreeing, total)}}`` for each verdict list, grouped by ``key(case)``."""
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for name, correct in verdicts.items():
        for case, verdict in zip(cases, correct):
            for group in (key(case), "ALL"):
                cell = table[group][name]
                cell[0] += agrees(case, verdict)
                cell[1] += 1
    return {g: {n: tuple(c) for n, c in row.items()} for g, row in table.items()}


def format_agreement(table: dict, title: str) -> str:
    """A fixed-width text table of ``agreement()``'s result: percentages and counts per column."""
    names = list(next(iter(table.values())))
    width = max(len(g) for g in table) + 2
    lines = [f"{title:<{width}}" + "".join(f"{n:>22}" for n in names)]
    for group in sorted(table, key=lambda g: (g == "ALL", g)):
        cells = "".join(f"{100 * a / t:>12.1f}% ({a:>3}/{t:>3})" for a, t in (table[group][n] for n in names))
        lines.append(f"{group:<{width}}{cells}")
    return "\n".join(lines)
