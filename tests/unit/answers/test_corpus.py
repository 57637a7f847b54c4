"""The one grade() against the regression corpus of other graders' published cases and issue 17's patterns.

Prints agreement per source and per category next to math-verify's (its verdicts are recorded by
``bench/bench_grading.py --record`` with the pinned math-verify, so this test does not re-run the
peer). Symbolic comparisons get 10 s here so the verdicts measure the grader, not the machine's load.
"""

import json
from collections import Counter

import pytest

from agentark_core.answers import grade, warm_up

from .corpus import HERE, agreement, format_agreement, load_corpus

CASES = load_corpus()
PEER_FILE = HERE / "peer_verdicts.json"
CORPUS_TIMEOUT_S = 10.0
# Categories where math-verify agrees more often, each with the case that makes the difference:
# numina: a malformed gold ("\\boxed{W(n) = 1 \\text{ and } W(n) = -1", never closed) against
# "W(x)=1orW(x)=-1" -- math-verify calls them equal, reading W(x) and W(n) as one name.
KNOWN_BEHIND = {"mv:numina_cases"}


@pytest.fixture(scope="module")
def graded():
    warm_up(workers=1)
    return [grade(c.response, c.gold, c.task_type, c.choices, CORPUS_TIMEOUT_S) for c in CASES]


@pytest.fixture(scope="module")
def peer():
    rows = json.loads(PEER_FILE.read_text())
    assert len(rows) == len(CASES), "corpus changed: re-run bench/bench_grading.py --record"
    for row, case in zip(rows, CASES):
        assert row["response"] == case.response[:80], f"{case.ref}: re-run bench/bench_grading.py --record"
    return [row["math_verify"] for row in rows]


def test_every_case_has_provenance_and_a_verdict():
    assert len(CASES) >= 500
    for case in CASES:
        assert case.source and case.category and case.ref, case
        assert case.expected in ("correct", "incorrect", "ungradable"), case
    sources = Counter(c.source for c in CASES)
    for source in ("math-verify", "qwen2.5-math", "lm-eval", "verl", "agentark-issue-17", "agentark-mcq"):
        assert sources[source] >= 3, sources
    assert sum(c.ref.startswith("huggingface/Math-Verify@") for c in CASES) >= 250


def test_agreement_beats_math_verify_overall_and_per_category(graded, peer, capsys):
    verdicts = {"ours": [g.correct for g in graded], "math-verify": peer}
    by_source = agreement(CASES, verdicts, lambda c: c.source)
    by_category = agreement(CASES, verdicts, lambda c: c.category)
    with capsys.disabled():
        print("\n" + format_agreement(by_source, "source") + "\n\n" + format_agreement(by_category, "category"))
    ours, theirs = by_category["ALL"]["ours"], by_category["ALL"]["math-verify"]
    assert ours[0] > theirs[0], (ours, theirs)
    assert ours[0] / ours[1] >= 0.97, ours
    behind = {cat for cat, row in by_category.items() if row["ours"][0] < row["math-verify"][0]}
    assert behind <= KNOWN_BEHIND, behind


def test_issue_patterns_and_mcq_agree_fully(graded):
    wrong = [(c.category, c.response[-60:], g) for c, g in zip(CASES, graded)
             if c.source in ("agentark-issue-17", "agentark-mcq", "agentark-gsm8k") and g.correct != (c.expected == "correct")]
    assert not wrong, wrong


def test_ungradable_is_reported_as_its_own_outcome(graded):
    expected_ungradable = [(c, g) for c, g in zip(CASES, graded) if c.expected == "ungradable"]
    assert len(expected_ungradable) >= 14  # hedged MCQ answers and format placeholders
    assert all(g.status == "ungradable" for _, g in expected_ungradable), [
        (c.response, g) for c, g in expected_ungradable if g.status != "ungradable"
    ]


def test_mcq_recall_is_equal_for_every_letter(graded):
    recall = {}
    for letter in "ABCD":
        mine = [g for c, g in zip(CASES, graded)
                if c.category == "mcq letters" and c.expected == "correct" and c.gold == letter]
        assert len(mine) == 18  # balanced: every template once per letter
        recall[letter] = sum(g.correct for g in mine) / len(mine)
    assert max(recall.values()) - min(recall.values()) <= 0.02, recall
