"""Cut-off replies and reasoning in the training sets: excluded / left out by default, each behind a switch."""

from __future__ import annotations

import pandas as pd
import pytest

from agentark_core.extract import ExtractConfig, agent_rounds, example_id, extract_shard
from tests.unit.extract.conftest import math_q

Q = math_q("What is 2 + 3?", "5")
RIGHT = "2 + 3 = 5\nFinal Answer: 5"
# agent 0 right; agent 1 right but cut off at max_tokens (it rambled on after its answer); agent 2 wrong
LOG = {Q: {0: [RIGHT], 1: [RIGHT + "\nLet me double-check by counting: 1, 2,"], 2: ["2 + 3 = 6\nFinal Answer: 6"]}}
CUT = (Q.question_id, 1, 1)  # (question, agent, round) of the cut-off reply


def _with_truncation(log, cut: set[tuple[str, int, int]], reasoning: dict | None = None):
    """Mark the ``cut`` turns as finish_reason "length" and their labels "truncated" (as the label stage
    does), keeping the rule verdict in ``verdict``; ``reasoning`` maps (question, agent, round) to a think text."""
    questions, turns, labels = log
    keys = list(zip(turns["question_id"], turns["agent_id"], turns["round"]))
    turns = turns.assign(finish_reason=["length" if k in cut else "stop" for k in keys],
                         reasoning=[(reasoning or {}).get(k, "") for k in keys])
    label_keys = list(zip(labels["question_id"], labels["agent_id"], labels["round"]))
    truncated = [k in cut for k in label_keys]
    labels = labels.assign(verdict=labels["status"],
                           status=["truncated" if t else s for t, s in zip(truncated, labels["status"])])
    labels["correct"] = labels["status"] == "correct"
    return questions, turns, labels


def test_truncated_replies_are_never_trained_on_by_default(make_log):
    questions, turns, labels = _with_truncation(make_log(LOG), {CUT})
    out = extract_shard(questions, turns, labels, ExtractConfig(min_correct=1))
    row = out.trajectories.set_index("agent_id").loc[1]
    assert row["rounds_correct"] == [-2] and not row["final_correct"]
    assert out.rsft["example_id"].tolist() == [example_id("rsft", Q.question_id, 0)]
    assert out.da["example_id"].tolist() == [example_id("da", Q.question_id, 0)]
    assert sorted(out.prm["source"]) == ["correct", "incorrect"]  # the cut-off trace is neither
    assert out.stats.kept == 1
    # with the paper's min_correct = 2 the question is dropped: one correct reply is not enough
    assert extract_shard(questions, turns, labels, ExtractConfig(min_correct=2)).rsft.empty


def test_include_truncated_grades_cut_off_replies_by_their_verdict(make_log):
    questions, turns, labels = _with_truncation(make_log(LOG), {CUT})
    out = extract_shard(questions, turns, labels, ExtractConfig(min_correct=2, include_truncated=True))
    assert out.stats.kept == 1
    assert out.rsft["example_id"].tolist() == [example_id("rsft", Q.question_id, a) for a in (0, 1)]


def test_a_cut_off_round_is_not_an_error_the_debate_corrected(make_log):
    log = {Q: {0: ["2 + 3 =", RIGHT], 1: ["2 + 3 = 6\nFinal Answer: 6", RIGHT], 2: [RIGHT, RIGHT]}}
    questions, turns, labels = _with_truncation(make_log(log), {(Q.question_id, 0, 1)})
    out = extract_shard(questions, turns, labels, ExtractConfig())
    corrective = out.trajectories.set_index("agent_id")["is_corrective"].to_dict()
    assert corrective == {0: False, 1: True, 2: False}


def test_reasoning_is_left_out_of_targets_unless_asked(make_log):
    think = {(Q.question_id, 0, 1): "Two plus three: count 3, 4, 5."}
    questions, turns, labels = _with_truncation(make_log(LOG), set(), reasoning=think)
    plain = extract_shard(questions, turns, labels, ExtractConfig(min_correct=1))
    assert not plain.rsft["reasoning"].str.contains("count 3").any()
    kept = extract_shard(questions, turns, labels, ExtractConfig(min_correct=1, include_reasoning=True))
    targets = kept.rsft.set_index(kept.rsft["reasoning"].str.contains("count 3"))
    assert targets.loc[True, "reasoning"] == "<think>\nTwo plus three: count 3, 4, 5.\n</think>\n\n2 + 3 = 5"
    assert targets.loc[True, "answer"] == "Final Answer: 5"
    assert any("count 3" in " ".join(steps) for steps in kept.prm["steps"])


def test_switches_need_their_columns(make_log):
    _, turns, labels = make_log(LOG)
    with pytest.raises(ValueError, match=r"labels: missing column\(s\) \['verdict'\]"):
        agent_rounds(turns, labels, include_truncated=True)
    with pytest.raises(ValueError, match=r"debate_turns: missing column\(s\) \['reasoning'\]"):
        agent_rounds(turns, labels, include_reasoning=True)
    assert isinstance(agent_rounds(turns, labels), pd.DataFrame)  # old logs still read without switches


def test_switches_work_on_frames_with_repeated_index_labels(make_log):
    """Shards concatenated without a fresh index repeat index labels; the switches go by position."""
    think = {(Q.question_id, 0, 1): "Two plus three: count 3, 4, 5."}
    questions, turns, labels = _with_truncation(make_log(LOG), {CUT}, reasoning=think)
    turns.index, labels.index = [0] * len(turns), [0] * len(labels)
    config = ExtractConfig(min_correct=1, include_truncated=True, include_reasoning=True)
    out = extract_shard(questions, turns, labels, config)
    assert out.rsft["example_id"].tolist() == [example_id("rsft", Q.question_id, a) for a in (0, 1)]
    assert out.rsft["reasoning"].str.contains("count 3").tolist() == [True, False]
