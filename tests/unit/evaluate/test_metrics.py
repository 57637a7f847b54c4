"""Metrics against values worked out by hand on fixed inputs."""

import sys
import types

import pytest

from agentark_core.evaluate.metrics import METRICS, compute_metric


def test_unknown_metric_lists_valid_names():
    with pytest.raises(KeyError, match="token_f1"):
        compute_metric("f1", ["a"], ["a"])


def test_accuracy_uses_grade_and_reports_ungradable():
    preds = ["so \\boxed{12}", "The answer is 12.0", "I think 13", "no number here at all"]
    # 1: boxed 12 == 12; 2: 12.0 == 12 numerically; 3: 13 != 12; 4: nothing extracted -> ungradable
    result = compute_metric("accuracy", preds, ["12"] * 4, task_type="math")
    assert result.per_item == [1.0, 1.0, 0.0, 0.0]
    assert result.value == 0.5
    assert result.n == 4
    assert result.details["ungradable"] == 1.0


def test_accuracy_per_item_task_types_and_choices():
    preds = ["Answer: B", "Final Answer: Paris"]
    result = compute_metric(
        "accuracy", preds, ["blue", "paris"], task_type=["mcq", "short"], choices=[("red", "blue"), ()]
    )
    assert result.per_item == [1.0, 1.0]  # gt given as option text maps to letter B


def test_accuracy_multiple_references_any_correct():
    result = compute_metric("accuracy", ["Final Answer: 7"], [["3", "7"]], task_type="math")
    assert result.value == 1.0


def test_token_f1_hand_values():
    preds = ["The Eiffel Tower, Paris", "banana", "", "Paris"]
    refs = ["Eiffel Tower in Paris", "apple", "", ["London", "the paris"]]
    result = compute_metric("token_f1", preds, refs)
    # [eiffel tower paris] vs [eiffel tower in paris]: P=1, R=3/4 -> F1 = 1.5/1.75 = 6/7
    assert result.per_item[0] == pytest.approx(6 / 7)
    assert result.per_item[1] == 0.0
    assert result.per_item[2] == 1.0  # both empty
    assert result.per_item[3] == 1.0  # best of the two references
    assert result.value == pytest.approx((6 / 7 + 0 + 1 + 1) / 4)


def test_token_f1_counts_repeated_tokens_once_each():
    # pred [cat cat cat] vs ref [cat dog]: common = min(3,1) = 1; P=1/3, R=1/2 -> F1 = 2*(1/6)/(5/6) = 0.4
    assert compute_metric("token_f1", ["cat cat cat"], ["cat dog"]).value == pytest.approx(0.4)


def test_exact_match_normalises():
    result = compute_metric("exact_match", ["The  Beatles!", "Beatles band"], ["beatles", "beatles"])
    assert result.per_item == [1.0, 0.0]


def test_rouge_hand_values():
    pred, ref = ["the cat sat on the mat"], ["the cat is on the mat"]
    # unigrams: the x2, cat, on, mat match -> 5/6 both ways
    assert compute_metric("rouge1", pred, ref).value == pytest.approx(5 / 6)
    # bigrams: "the cat", "on the", "the mat" of 5 each -> 3/5
    assert compute_metric("rouge2", pred, ref).value == pytest.approx(3 / 5)
    # LCS "the cat on the mat" = 5 of 6
    assert compute_metric("rougeL", pred, ref).value == pytest.approx(5 / 6)


def test_rouge_max_over_references():
    result = compute_metric("rouge1", ["red apple"], [["green pear", "red apple"]])
    assert result.value == pytest.approx(1.0)


def test_bleu_hand_value():
    pred, ref = ["the cat sat on the mat"], ["the cat sat on a mat"]
    # n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths so BP = 1 -> 100 * (1/12) ** (1/4)
    result = compute_metric("bleu", pred, ref)
    expected = 100 * (1 / 12) ** 0.25
    assert result.value == pytest.approx(expected, abs=1e-3)
    assert result.per_item[0] == pytest.approx(expected, abs=1e-3)


def test_bleu_variable_reference_counts():
    preds = ["the cat sat on the mat", "hello there my good friend"]
    refs = [["the cat sat on a mat"], ["hi", "hello there my good friend"]]
    result = compute_metric("bleu", preds, refs)
    assert result.per_item[1] == pytest.approx(100.0)
    assert 100 * (1 / 12) ** 0.25 < result.value < 100


def test_bertscore_skipped_when_package_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "bert_score", None)  # import fails as if not installed
    result = compute_metric("bertscore", ["a"], ["a"])
    assert result.skipped and result.value is None
    assert "bert-score is not installed" in result.note


def test_bertscore_skipped_when_model_unavailable(monkeypatch):
    def score(*args, **kwargs):
        raise OSError("no such model directory /missing")

    monkeypatch.setitem(sys.modules, "bert_score", types.SimpleNamespace(score=score))
    result = compute_metric("bertscore", ["a"], ["a"], model_type="/missing")
    assert result.skipped
    assert "/missing" in result.note and "OSError" in result.note


@pytest.mark.parametrize("name", ["token_f1", "exact_match", "rouge1", "bleu", "accuracy"])
def test_bad_inputs_name_the_problem(name):
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        METRICS.get(name)(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="prediction 0"):
        METRICS.get(name)([None], ["a"])
    with pytest.raises(ValueError, match="item 0 has no reference"):
        METRICS.get(name)(["a"], [[]])


def test_empty_input_has_no_value():
    result = compute_metric("token_f1", [], [])
    assert result.value is None and result.n == 0 and result.per_item == []
