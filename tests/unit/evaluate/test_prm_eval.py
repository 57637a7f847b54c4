"""PRM evaluation metrics against hand computations: held-out split, AUROC, step metrics, best-of-N;
and ``evaluate_prm`` end to end with a scripted student and a PRM whose scores are known."""

from __future__ import annotations

import itertools

import pytest

from agentark_core.data.question import Question
from agentark_core.evaluate.prm_eval import (
    Candidate,
    auroc,
    best_of_n,
    evaluate_prm,
    heldout_questions,
    step_metrics,
)
from agentark_core.llm.scripted import ScriptedGenerator


def _pairwise_auroc(scores, labels):
    """The definition: over all (positive, negative) pairs, 1 if the positive is higher, ½ on a tie."""
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_heldout_questions_is_deterministic_by_question_and_keeps_training_questions():
    ids = [f"q{i}" for i in range(50)]
    held = heldout_questions(ids, 0.2, seed=0)
    assert len(held) == 10 and held <= set(ids)
    assert heldout_questions(list(reversed(ids)) * 3, 0.2, seed=0) == held  # order and repeats do not matter
    assert heldout_questions(ids, 0.2, seed=1) != held  # the seed picks another split
    assert heldout_questions(ids, 0.0) == set()
    assert heldout_questions(["a", "b"], 0.9) == {"a"} or heldout_questions(["a", "b"], 0.9) == {"b"}
    assert heldout_questions(["only"], 0.5) == set()  # one question: it trains
    with pytest.raises(ValueError, match=r"held-out fraction must be in \[0, 1\), got 1"):
        heldout_questions(ids, 1)


def test_auroc_matches_the_pairwise_definition_with_ties():
    assert auroc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]) == 0.75  # pairs: (.9>.8) (.9>.1) (.3<.8) (.3>.1)
    assert auroc([0.5, 0.5, 0.5], [1, 0, 0]) == 0.5
    assert auroc([0.2, 0.9], [1, 0]) == 0.0
    scores = [0.1, 0.4, 0.4, 0.35, 0.8, 0.8, 0.8, 0.05, 0.6]
    labels = [0, 1, 0, 1, 1, 0, 1, 0, 0]
    assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels))
    assert auroc([0.3, 0.4], [1, 1]) is None
    with pytest.raises(ValueError, match="2 scores but 1 labels"):
        auroc([0.1, 0.2], [1])


def test_step_metrics_by_hand():
    # group a: positives .9 and .4, negative .6 -> ranked: .9 yes, .4 no
    # group b: positive .7, negatives .2 and .75 -> no
    # group c: positive .8 and no negative -> not ranked
    scores = [0.9, 0.4, 0.6, 0.7, 0.2, 0.75, 0.8]
    labels = [1, 1, 0, 1, 0, 0, 1]
    groups = ["a", "a", "a", "b", "b", "b", "c"]
    m = step_metrics(scores, labels, groups)
    assert m["ranking_accuracy"] == pytest.approx(1 / 3) and m["n_ranked"] == 3
    # threshold .5: predictions 1,0,1,1,0,1,1 vs labels 1,1,0,1,0,0,1 -> right at 0,3,4,6
    assert m["accuracy"] == pytest.approx(4 / 7)
    assert m["auroc"] == pytest.approx(_pairwise_auroc(scores, labels))
    assert m["n_steps"] == 7 and m["positive_rate"] == pytest.approx(4 / 7)
    assert step_metrics([0.3], [1], ["a"])["ranking_accuracy"] is None
    with pytest.raises(ValueError, match="no steps"):
        step_metrics([], [], [])


def _c(answer, correct, score):
    return Candidate(answer, correct, score)


def test_best_of_n_by_hand():
    q1 = [  # group 1 of 2: PRM picks "5" (right), majority "4" (wrong); group 2: PRM "4", majority "4"
        _c("5", True, 0.9), _c("4", False, 0.2), _c("4", False, 0.3), _c(None, False, 0.1),
        _c("4", False, 0.8), _c("4", False, 0.7), _c("5", True, 0.1), _c("6", False, 0.0),
    ]
    q2 = [  # group 1: all wrong; group 2: majority "7" right, PRM picks the tie's earliest ("8", wrong)
        _c("1", False, 0.5), _c("2", False, 0.5), _c("1", False, 0.5), _c("3", False, 0.5),
        _c("8", False, 0.9), _c("7", True, 0.9), _c("7", True, 0.1), _c(None, False, 0.9),
    ]
    out = best_of_n([q1, q2], sizes=(4, 8, 16))
    four = out["4"]
    assert four["trials"] == 4
    assert four["prm"] == 0.25  # right only in q1's first group
    assert four["majority"] == 0.25  # right only in q2's second group
    assert four["oracle"] == 0.75
    assert four["random"] == pytest.approx((1 / 4 + 1 / 4 + 0 + 2 / 4) / 4)
    assert four["prm_beats_majority"] is False
    eight = out["8"]  # q1: PRM -> "5" right, majority "4" wrong; q2: PRM -> "8" wrong, majority "1" (tie) wrong
    assert eight["trials"] == 2 and eight["prm"] == 0.5 and eight["majority"] == 0.0
    assert eight["oracle"] == 1.0 and eight["prm_beats_majority"] is True
    assert "16" not in out  # no question has 16 samples


def test_best_of_n_majority_uses_the_given_equivalence():
    group = [_c("3", False, 0.0), _c("0.5", True, 0.0), _c("1/2", True, 0.0)]
    assert best_of_n([group], sizes=(3,))["3"]["majority"] == 0.0  # plain strings: a 3-way tie, the earliest
    same = [lambda a, b: {a, b} <= {"0.5", "1/2"} or a == b]
    assert best_of_n([group], sizes=(3,), same=same)["3"]["majority"] == 1.0  # "0.5" and "1/2" agree
    with pytest.raises(ValueError, match="N must be >= 1"):
        best_of_n([group], sizes=(0,))


class _KeywordPRM:
    """A PRM whose step score is known: 0.2 for a step containing "bad", else 0.9."""

    step_separator = "\n"

    def __init__(self):
        self.calls = []

    def score_steps(self, prompts, steps, batch_size=8):
        self.calls.append(len(prompts))
        return [[0.2 if "bad" in s else 0.9 for s in trace] for trace in steps]


def test_evaluate_prm_samples_grades_and_reranks_in_one_batch():
    questions = [Question(dataset="toy", split="train", task_type="math", query=f"What is {i} + 1?", gt=str(i + 1))
                 for i in (1, 2)]

    def reply(request, call_index):  # per question: 3 wrong answers agreeing, then one right "ok" answer
        n = reply.counts.setdefault(request.messages[-1]["content"], 0)
        reply.counts[request.messages[-1]["content"]] += 1
        value = int(request.messages[-1]["content"].split("What is ")[1].split(" ")[0]) + 1
        return f"step ok\nFinal Answer: {value}" if n % 4 == 3 else "step bad\nFinal Answer: 99"

    reply.counts = {}
    generator = ScriptedGenerator(reply)
    rows = [{"question_id": questions[0].question_id, "prompt": "p", "steps": ["a", "b bad"], "step_labels": [1, 0]},
            {"question_id": questions[0].question_id, "prompt": "p", "steps": ["c", "d"], "step_labels": [1, 1]}]
    prm = _KeywordPRM()
    out = evaluate_prm(prm, rows, questions, generator, sizes=(4, 8), sampling={"temperature": 1.0, "seed": 3})
    assert len(generator.calls) == 1 and generator.n_requests == 16  # 2 questions x max N = 8, one batch
    assert out["n_questions"] == 2
    assert out["steps"]["auroc"] == 1.0 and out["steps"]["ranking_accuracy"] == 1.0
    assert out["best_of_n"]["4"] == {"prm": 1.0, "random": 0.25, "majority": 0.0, "oracle": 1.0, "trials": 4,
                                     "prm_beats_majority": True}
    assert out["best_of_n"]["8"]["trials"] == 2 and out["best_of_n"]["8"]["prm"] == 1.0
