"""The ingest data policy (agentark_core/data/policy.py): gold answers, digits, lengths, duplicates,
and the checks on local files and field types that come before it."""

from __future__ import annotations

import pytest

from agentark_core.data import DATASETS, RowError, load_questions
from agentark_core.data.policy import MAX_CHARS, PolicyError, apply_policy, ascii_digits
from agentark_core.data.question import Question

ROW = {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"}


def math_question(gt: str, query: str = "1 + 1?") -> Question:
    return Question("gsm8k", "test", "math", query, gt)


@pytest.mark.parametrize("text, expected", [
    ("４２", "42"),                      # fullwidth
    ("𝟒𝟐", "42"),                        # mathematical bold
    ("٤٢", "42"),                        # Arabic-Indic
    ("३.५", "3.5"),                      # Devanagari, the point kept
    ("x² = 4", "x² = 4"),                # a superscript is not a decimal digit (category No): kept
    ("42", "42"),
])
def test_other_script_digits_become_ascii(text, expected):
    assert ascii_digits(text) == expected


def test_gold_answer_is_normalised_and_the_id_kept():
    q = math_question(" ４２ ")
    checked = apply_policy(q)
    assert checked.gt == "42" and checked.question_id == q.question_id
    assert apply_policy(checked) is checked  # already clean: returned as is


@pytest.mark.parametrize("gt", ["", "   ", "nan", "NaN", "-inf", "Infinity", "1e999"])
def test_empty_or_non_finite_gold_is_an_error(gt):
    with pytest.raises(PolicyError, match="empty gold answer|is not a finite value"):
        apply_policy(math_question(gt))


def test_finite_and_textual_gold_pass():
    for gt in ("0", "-3.5", "1e9", "\\frac{1}{2}", "nano", "B"):
        assert apply_policy(math_question(gt)).gt == gt


@pytest.mark.parametrize("field", ["query", "gt", "context", "gold_reasoning"])
def test_over_long_field_names_the_limit(field):
    values = {"query": "q", "gt": "1", "context": "", "gold_reasoning": ""}
    values[field] = "x" * (MAX_CHARS[field] + 1)
    q = Question("gsm8k", "test", "math", values["query"], values["gt"], context=values["context"],
                 gold_reasoning=values["gold_reasoning"])
    with pytest.raises(PolicyError, match=rf"'{field}' has {MAX_CHARS[field] + 1:,} characters, "
                                          rf"over the limit of {MAX_CHARS[field]:,}"):
        apply_policy(q)


def test_repeats_are_dropped_and_conflicts_name_both_rows(write_rows):
    same = load_questions("gsm8k", write_rows([ROW, ROW], "same.jsonl"))
    assert len(same) == 1
    path = write_rows([ROW, {"question": "Other?", "answer": "#### 1"}, {**ROW, "answer": "#### 8"}], "c.jsonl")
    with pytest.raises(RowError, match=rf"row 0 of '{path}' and row 2 of '{path}' hold the same question .*"
                                       r"'7' vs '8'"):
        load_questions("gsm8k", path)


def test_policy_applies_to_adapters_that_are_not_files():
    class Repeating:
        def load(self, dataset, source, split, limit, seed, **options):
            return [math_question("2"), math_question("3")]

    DATASETS.register("repeating-test")(Repeating())
    try:
        with pytest.raises(PolicyError, match="question 0 of dataset 'repeating-test' and question 1 .*'2' vs '3'"):
            load_questions("repeating-test")
    finally:
        DATASETS.remove("repeating-test")


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b'{"question": "caf\xe9", "answer": "#### 1"}\n', r"is not UTF-8: byte 17 \(line 1\)"),
    (b'{"question": "a", "answer": "#### 1"}\n{"question": "b", "answ', "cannot read data file"),
    (b'{"question": "a", "answer": 7}\n', "row 0 .*field 'answer' must be text, got int 7"),
    (b'{"question": ["a"], "answer": "#### 7"}\n', "row 0 .*field 'question' must be text, got list"),
])
def test_bad_files_name_file_row_and_field(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_questions("gsm8k", str(path))
