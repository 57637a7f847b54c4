"""Artifact schemas: every kind registered and versioned; violations name column, check and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from schemas import SchemaViolation, get_schema, schema_names, validate

KINDS = ["questions", "debate_turns", "labels", "trajectories", "sft_examples", "prm_examples",
         "checkpoints", "eval_records", "eval_summary"]


def _question(**kw) -> dict:
    row = {"question_id": "q1", "dataset": "toy", "split": "train", "task_type": "math", "query": "1+1?", "gt": "2",
               "context": "", "choices": [], "gold_reasoning": ""}
    row.update(kw)
    return row


def test_every_artifact_kind_has_a_versioned_schema():
    assert set(KINDS) <= set(schema_names())
    assert all(get_schema(k).version >= 1 for k in KINDS)
    with pytest.raises(KeyError, match="valid: checkpoints"):
        get_schema("nope")


def test_violation_names_column_check_and_rows():
    rows = [_question(question_id=f"q{i}") for i in range(8)]
    for i in (1, 2, 3, 4, 5, 6, 7):
        rows[i]["task_type"] = "poetry"
    with pytest.raises(SchemaViolation) as info:
        validate(pd.DataFrame(rows), "questions")
    text = str(info.value)
    assert "column 'task_type'" in text and "isin" in text
    assert "rows [1, 2, 3, 4, 5]" in text  # at most 5 rows shown
    assert "'poetry'" in text


def test_unknown_and_missing_columns_are_refused():
    frame = pd.DataFrame([_question()]).assign(extra=1)
    with pytest.raises(SchemaViolation, match="extra"):
        validate(frame, "questions")
    with pytest.raises(SchemaViolation, match="gt"):
        validate(pd.DataFrame([_question()]).drop(columns="gt"), "questions")


def test_list_columns_come_back_as_python_lists():
    frame = pd.DataFrame([_question(choices=np.array(["a", "b"]))])
    out = validate(frame, "questions")
    assert out["choices"].iloc[0] == ["a", "b"]
    with pytest.raises(SchemaViolation, match="list_of_str"):
        validate(pd.DataFrame([_question(choices="a,b")]), "questions")


def test_cross_column_checks():
    prm = pd.DataFrame([{"question_id": "q", "trace_id": "t", "prompt": "p", "steps": ["a", "b"], "step_labels": [1],
                             "is_correct": True, "source": "final"}])
    with pytest.raises(SchemaViolation, match="one_label_per_step"):
        validate(prm, "prm_examples")
    labels = pd.DataFrame([{"question_id": "q", "agent_id": 0, "role": "agent", "round": 1, "answer": "2",
                                "status": "incorrect", "verdict": "incorrect", "correct": True, "verifier": "rule"}])
    with pytest.raises(SchemaViolation, match="correct_matches_status"):
        validate(labels, "labels")


def test_truncated_labels_keep_the_verdict_and_are_never_correct():
    row = {"question_id": "q", "agent_id": 0, "role": "agent", "round": 1, "answer": "2", "status": "truncated",
           "verdict": "correct", "correct": False, "verifier": "rule"}
    assert validate(pd.DataFrame([row]), "labels")["status"].tolist() == ["truncated"]
    with pytest.raises(SchemaViolation, match="correct_matches_status"):
        validate(pd.DataFrame([row | {"correct": True}]), "labels")
    with pytest.raises(SchemaViolation, match="status_is_verdict_unless_truncated"):
        validate(pd.DataFrame([row | {"status": "incorrect"}]), "labels")
    with pytest.raises(SchemaViolation, match="isin"):
        validate(pd.DataFrame([row | {"verdict": "truncated"}]), "labels")
