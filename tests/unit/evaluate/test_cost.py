"""Cost accounting from hand-built debate_turns-like and eval_records-like rows."""

import pytest

from agentark_core.evaluate.cost import compare_cost, per_question_cost, summarize_cost


def turn(qid, prompt, completion, latency, messages_json='[{"role": "user", "content": "x"}]'):
    return {
        "question_id": qid,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_s": latency,
        "messages_json": messages_json,
        "role": "agent",
    }


def record(qid, prompt, completion, latency, calls=1):
    return {
        "question_id": qid,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "latency_s": latency,
        "calls": calls,
    }


MAS = [
    # q1: 2 agents x 2 rounds + aggregator = 5 calls
    turn("q1", 10, 100, 1.0),
    turn("q1", 10, 120, 1.0),
    turn("q1", 50, 80, 2.0),
    turn("q1", 50, 60, 2.0),
    turn("q1", 80, 40, 0.5),
    # q2: self-consistency style: 2 samples + a vote row that made no call
    turn("q2", 10, 30, 1.0),
    turn("q2", 10, 50, 1.0),
    turn("q2", 0, 0, 0.0, messages_json="[]"),
]
SINGLE = [record("q1", 10, 100, 1.0), record("q2", 10, 20, 0.5), record("q3", 10, 999, 9.0)]


def test_per_question_sums_and_vote_rows_are_not_calls():
    costs = per_question_cost(MAS)
    assert costs["q1"].calls == 5 and costs["q2"].calls == 2
    assert costs["q1"].completion_tokens == 400 and costs["q1"].prompt_tokens == 200
    assert costs["q1"].latency_s == pytest.approx(6.5)
    assert costs["q2"].completion_tokens == 80


def test_summary_means():
    summary = summarize_cost(per_question_cost(MAS))
    assert summary.n_questions == 2
    assert summary.completion_tokens == pytest.approx((400 + 80) / 2)
    assert summary.calls == pytest.approx(3.5)


def test_ratios_on_common_questions():
    comparison = compare_cost(MAS, SINGLE)  # q3 is single-only and left out
    assert comparison.single.n_questions == 2
    # MAS: completion (400 + 80) / 2 = 240; single (100 + 20) / 2 = 60 -> 4
    assert comparison.ratios["completion_tokens"] == pytest.approx(4.0)
    # prompt: (200 + 20) / 2 = 110 vs 10 -> 11; calls 3.5 vs 1; latency (6.5 + 2) / 2 = 4.25 vs 0.75
    assert comparison.ratios["prompt_tokens"] == pytest.approx(11.0)
    assert comparison.ratios["calls"] == pytest.approx(3.5)
    assert comparison.ratios["latency_s"] == pytest.approx(4.25 / 0.75)


def test_zero_single_cost_gives_no_ratio():
    comparison = compare_cost(MAS, [record("q1", 0, 5, 0.0), record("q2", 0, 5, 0.0)])
    assert comparison.ratios["latency_s"] is None and comparison.ratios["prompt_tokens"] is None


def test_bad_rows_are_named():
    with pytest.raises(KeyError, match=r"cost row 1 lacks column\(s\) \['latency_s'\]"):
        per_question_cost(
            [record("q1", 1, 1, 1.0), {"question_id": "q2", "prompt_tokens": 1, "completion_tokens": 1}]
        )
    with pytest.raises(ValueError, match="cost row 0 .*negative"):
        per_question_cost([record("q1", -1, 1, 1.0)])
    with pytest.raises(ValueError, match="no question in common"):
        compare_cost(MAS, [record("zz", 1, 1, 1.0)])
