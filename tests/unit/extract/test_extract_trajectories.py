"""Trajectory extraction on a hand-built debate log: filter, corrective flags, rounds, consensus."""

import pandas as pd
import pytest

from agentark_core.extract import agent_rounds, build_trajectories
from schemas import validate


@pytest.fixture
def table(hand_log):
    questions, turns, labels = hand_log
    return build_trajectories(agent_rounds(turns, labels), questions)


def _row(trajectories, question, agent):
    rows = trajectories.loc[
        (trajectories["question_id"] == question.question_id) & (trajectories["agent_id"] == agent)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_one_row_per_agent_aggregator_ignored_and_schema_valid(table):
    trajectories, _ = table
    assert len(trajectories) == 12
    assert (trajectories["agent_id"] >= 0).all()
    validate(trajectories, "trajectories")


def test_rounds_correct_and_corrective_flags(table, hand_questions):
    trajectories, _ = table
    fix, drop = hand_questions["fix"], hand_questions["drop"]
    assert _row(trajectories, fix, 0)["rounds_correct"] == [1, 1]
    assert _row(trajectories, fix, 1)["rounds_correct"] == [0, 1]
    assert _row(trajectories, fix, 2)["rounds_correct"] == [-1, 0]
    assert [_row(trajectories, fix, a)["is_corrective"] for a in range(3)] == [False, True, False]
    assert _row(trajectories, drop, 0)["is_corrective"]  # corrective even in a dropped question
    assert _row(trajectories, fix, 2)["trace"].endswith("Final Answer: 7")  # final-round response


def test_early_stopped_question_has_single_round(table, hand_questions):
    trajectories, _ = table
    early = trajectories.loc[trajectories["question_id"] == hand_questions["early"].question_id]
    assert early["rounds_correct"].tolist() == [[1], [1], [1]]
    assert early["n_correct_final"].tolist() == [3, 3, 3]
    assert early["kept"].all() and not early["is_corrective"].any()


def test_filter_keeps_questions_with_two_correct(table, hand_questions):
    trajectories, stats = table
    kept = trajectories.groupby("question_id")["kept"].first()
    assert kept[hand_questions["drop"].question_id] == False
    assert kept[hand_questions["fix"].question_id] and kept[hand_questions["tie"].question_id]
    assert (stats.questions, stats.kept, stats.dropped, stats.trajectories) == (4, 3, 1, 12)
    assert stats.corrective == 2


def test_min_correct_three_drops_more(hand_log):
    questions, turns, labels = hand_log
    _, stats = build_trajectories(agent_rounds(turns, labels), questions, min_correct=3)
    assert (stats.kept, stats.dropped) == (1, 3)  # only the unanimous early question


def test_consensus_majority_up_to_equivalence(table, hand_questions):
    trajectories, _ = table
    by_q = trajectories.groupby("question_id")["consensus_answer"].first()
    assert by_q[hand_questions["fix"].question_id] == "5"
    assert by_q[hand_questions["drop"].question_id] == "10"  # majority, though wrong
    assert by_q[hand_questions["tie"].question_id] in {"4", "4.0"}  # the 2-member cluster beats "3"


def test_consensus_tie_goes_to_earliest_agent(make_log, hand_questions):
    q = hand_questions["tie"]
    questions, turns, labels = make_log({q: {0: ["Final Answer: 3"], 1: ["Final Answer: 4"]}})
    trajectories, _ = build_trajectories(agent_rounds(turns, labels), questions)
    assert trajectories["consensus_answer"].tolist() == ["3", "3"]


def test_missing_label_names_the_turn(hand_log):
    _questions, turns, labels = hand_log
    labels = labels.drop(index=3)
    with pytest.raises(ValueError, match="no label for the debate turn"):
        agent_rounds(turns, labels)


def test_round_gap_is_refused(hand_log):
    _, turns, labels = hand_log
    first = (turns["agent_id"] == 0) & (turns["round"] == 1)
    keep = ~first.to_numpy() | (turns.index != turns.index[first][0])
    with pytest.raises(ValueError, match="without gaps"):
        agent_rounds(turns.loc[keep], labels)


def test_missing_column_and_unknown_question(hand_log):
    questions, turns, labels = hand_log
    with pytest.raises(ValueError, match=r"labels: missing column\(s\) \['status'\]"):
        agent_rounds(turns, labels.drop(columns=["status"]))
    rounds = agent_rounds(turns, labels)
    with pytest.raises(ValueError, match="no row for question_id"):
        build_trajectories(rounds, questions.iloc[:1])


def test_empty_shard_gives_empty_valid_table():
    rounds = pd.DataFrame(columns=["question_id", "agent_id", "round", "response", "answer", "status"])
    trajectories, stats = build_trajectories(rounds, pd.DataFrame())
    assert trajectories.empty and stats.questions == 0
